"""Recipes: ``prepare_<corpus>(...)`` functions that write a source directory the ingest reads."""
