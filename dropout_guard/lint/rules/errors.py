"""DG000: a file that could not be analysed. The engine reports it; no rule logic here."""
from __future__ import annotations

from .base import Rule


class FileNotAnalysed(Rule):
    """## What it does
    Reports a file the analyser could not read or parse: a syntax error, undecodable bytes,
    a NUL byte, an unreadable file, invalid notebook JSON, or an internal error while
    analysing it (with the exception's summary).

    ## Why is this bad?
    A file that is not analysed may hide every other bug; the run goes on, but you should
    know which files were skipped and why.

    ## Example
    ```python
    def predict(model, x)
        return model(x)
    ```

    ## Use instead
    ```python
    def predict(model, x):
        return model(x)
    ```

    ## Fix safety
    No fix: the cause is outside the analyser's reach.
    """

    code = "DG000"
    name = "file-not-analysed"
    summary = "The file could not be read, decoded or parsed, so it was not analysed"
    VALID = ["x = 1\n"]
    INVALID = []

    def check(self, ctx):  # the engine reports DG000 itself
        return None


RULES = [FileNotAnalysed]
