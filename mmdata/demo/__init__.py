"""The embedded demo corpus (`mm demo`): real image/audio/text files written offline."""

from mmdata.demo.corpus import write_demo_corpus

__all__ = ["write_demo_corpus"]
