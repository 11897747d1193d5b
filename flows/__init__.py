"""Prefect flows: thin @flow/@task wrappers that compose mmdata and mmmodel (no logic of their own)."""
