"""Placeholder until the handwritten rules land (issue 7)."""
RULES = []
