"""Placeholder until the keras rules land (issue 7)."""
RULES = []
