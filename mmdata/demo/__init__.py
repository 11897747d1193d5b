"""The embedded demo corpus (`mm demo`): real image/audio/text files written offline."""

from mmdata.demo.corpus import default_corpus_dir, write_demo_corpus

__all__ = ["default_corpus_dir", "write_demo_corpus"]
