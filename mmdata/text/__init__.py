"""Text kernels (decode, HTML extraction, unicode repair, cleanup, tokens) and filters."""
