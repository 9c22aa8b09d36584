"""The analyser's own findings (DG0xx). No rule logic here: the engine reports DG000 for a
file it could not analyse, and the api reports DG001 after applying the ``# noqa`` comments
(``suppression.unused_noqa``), since only then is it known which codes suppressed nothing."""
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


class UnusedNoqa(Rule):
    """## What it does
    Reports the `DG` codes of a `# noqa: ...` comment that suppress nothing: the rule did not
    fire on that line (*unused*), no rule has that code (*unknown*, a typo such as `DG1O1`),
    the rule is not enabled in this run (*non-enabled*), or the code is listed twice
    (*duplicated*). This is ruff's `RUF100` for
    dropout-guard's own codes: codes of other tools (`E501`, `F401`, ...) and a bare `# noqa`
    are left alone, since dropout-guard cannot know whether they are needed.

    The rule is off by default, as `RUF100` is in ruff: enable it with
    `--extend-select DG001` (or `extend-select = ["DG001"]`). A comment that lists `DG001`
    itself is never reported.

    ## Why is this bad?
    A stale `# noqa` outlives the bug it silenced: when the code changes so that the finding
    comes back on that line, nobody hears about it. A misspelt code silences nothing.

    ## Example
    ```python
    torch.no_grad()  # noqa: DG202, DG101
    ```

    ## Use instead
    ```python
    torch.no_grad()  # noqa: DG202
    ```

    ## Fix safety
    Safe: the fix only edits a comment. It removes the reported codes and keeps the others
    (`# noqa: DG101, E501` becomes `# noqa: E501`); when no code is left it removes the
    directive, keeping any other comment on the line.
    """

    code = "DG001"
    name = "unused-noqa"
    summary = "A `# noqa` comment lists a dropout-guard code that suppresses nothing"
    fix_safety = "safe"
    default_enabled = False
    triggers = frozenset()  # computed from the comments after the analysis, never by the rules
    VALID = ["import torch\n\ntorch.no_grad()  # noqa: DG202\n",
             "x = 1  # noqa: E501\n",
             "x = 1  # noqa\n"]
    INVALID = ["import torch\n\ntorch.no_grad()  # noqa: DG202, DG101  # expect: DG001\n",
               "x = 1  # noqa: DG101  # expect: DG001\n",
               "x = 1  # noqa: DG999, E501  # expect: DG001\n"]

    def check(self, ctx):  # the api reports DG001 itself
        return None


RULES = [FileNotAnalysed, UnusedNoqa]
