"""The static analyser (``dropout-guard check``). Never imports torch."""
