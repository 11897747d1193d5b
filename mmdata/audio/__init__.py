"""Audio kernels (decode, mono, resample, trim, loudness, pad/crop, log-mel) and filters."""
