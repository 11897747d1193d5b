"""Annotation: labels (source, rules, imported files), group-aware splits, class balance."""
