"""Rules land here."""
RULES = []
