"""Python 2 source read as Python 3: ``python2_as_python3``.

Old research code (the training scripts of many published models) still has Python 2
statements that Python 3 cannot parse: ``print x``, ``exec code``, ``except E, e:``,
``raise E, "message"``, ``x <> y``, ``lambda (a, b): ...`` (a tuple parameter, read as two),
and PyTorch's old ``.cuda(async=True)``. A file that
fails to parse is rewritten token by token into the Python 3 equivalents, keeping every
other token on its line and column (so findings point at the original text), and parsed
again; anything else that is Python 2 only (backticks, ``0777``, ``10L``, ``ur""``) still
fails, and the file is reported as it was (DG000). Nothing here runs on a file that parses.
"""
from __future__ import annotations

import io
import tokenize
from typing import List, Optional, Tuple

_STARTS = frozenset({tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL})
_STATEMENT_WORDS = frozenset({"print", "exec"})
_NOT_AN_ARGUMENT = frozenset({"(", ")", "=", ".", ",", ":", ";", "[", "+=", "-=", "*=", "/=", "|=", "&="})

Edit = Tuple[int, int, int, int, str]  # start row, start col, end row, end col, text


def python2_as_python3(source: str) -> Optional[str]:
    """The source with its Python 2 statements written as Python 3; None when nothing was
    rewritten or the text cannot be tokenized."""
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    if any(t.type == tokenize.ERRORTOKEN and t.string.strip() for t in toks):
        return None  # backticks and the like: not ours to guess
    edits: List[Edit] = []
    for i, t in enumerate(toks):
        if t.type == tokenize.NAME and t.string in _STATEMENT_WORDS and _at_statement_start(toks, i):
            edits.extend(_call_statement(toks, i))
        elif t.type == tokenize.NAME and t.string == "except":
            edits.extend(_except_comma(toks, i))
        elif t.type == tokenize.NAME and t.string == "raise" and _at_statement_start(toks, i):
            edits.extend(_raise_comma(toks, i))
        elif t.string == "<" and i + 1 < len(toks) and toks[i + 1].string == ">" and toks[i + 1].start == t.end:
            edits.append((*t.start, *toks[i + 1].end, "!="))  # `a <> b`
        elif t.type == tokenize.NAME and t.string == "async" and i + 1 < len(toks) and toks[i + 1].string == "=" \
                and i and toks[i - 1].string in ("(", ","):
            edits.append((*t.start, *t.end, "non_blocking"))  # `.cuda(async=True)` of PyTorch before 0.4
        elif t.type == tokenize.NAME and t.string == "lambda" and i + 1 < len(toks) and toks[i + 1].string == "(":
            edits.extend(_lambda_tuple(toks, i + 1))
    if not edits:
        return None
    return _apply(source, edits)


def _at_statement_start(toks, i: int) -> bool:
    if i == 0:
        return True
    prev = toks[i - 1]
    return prev.type in _STARTS or prev.string == ";" or (prev.string == ":" and _depth_before(toks, i - 1) == 0
                                                            and _line_opens_block(toks, i - 1))


def _depth_before(toks, i: int) -> int:
    depth = 0
    j = i - 1
    while j >= 0 and toks[j].type not in (tokenize.NEWLINE,):
        s = toks[j].string
        if toks[j].type == tokenize.OP:
            if s in ")]}":
                depth -= 1
            elif s in "([{":
                depth += 1
        j -= 1
    return depth


def _line_opens_block(toks, i: int) -> bool:
    """The ``:`` at ``i`` ends a compound statement's header (``if x: print y``), not a slice
    or a lambda: the logical line starts with a block keyword."""
    j = i - 1
    while j > 0 and toks[j - 1].type not in _STARTS and toks[j - 1].string != ";":
        j -= 1
    return toks[j].string in ("if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class")


def _statement_end(toks, i: int) -> int:
    """The index of the token that ends the simple statement starting at ``i`` (its NEWLINE,
    a ``;`` outside brackets, or a comment before the NEWLINE)."""
    depth = 0
    j = i
    while j < len(toks):
        t = toks[j]
        if t.type == tokenize.OP:
            if t.string in "([{":
                depth += 1
            elif t.string in ")]}":
                depth -= 1
            elif t.string == ";" and depth == 0:
                return j
        elif t.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or (t.type == tokenize.COMMENT and depth == 0):
            return j
        j += 1
    return len(toks) - 1


def _call_statement(toks, i: int) -> List[Edit]:
    """``print x, y`` → ``print(x, y)``; ``print >>f, x`` → ``print(x)`` (where it goes does
    not matter to the analysis); ``print`` → ``print()``; ``exec code`` → ``exec(code)``."""
    word = toks[i]
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if nxt is None:
        return []
    if nxt.type == tokenize.OP and nxt.string in _NOT_AN_ARGUMENT and nxt.string != "(":
        return []  # `print = log`, `print.x`: a name, not the statement
    end = _statement_end(toks, i + 1)
    if nxt.string == "(" and _closing(toks, i + 1) == _last_significant(toks, i + 1, end):
        return []  # `print(x)`, `print("a", file=f)`: a call already
    if nxt.type in (tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENDMARKER) or end == i + 1:
        return [(*word.end, *word.end, "()")]
    out: List[Edit] = []
    first = i + 1
    if nxt.string == ">>":  # blank `>>f,` out
        k = i + 1
        depth = 0
        while k < end and not (toks[k].string == "," and depth == 0):
            depth += toks[k].string in "([{" and toks[k].type == tokenize.OP
            depth -= toks[k].string in ")]}" and toks[k].type == tokenize.OP
            k += 1
        stop = toks[k].end if k < end else toks[end].start
        out.append((*nxt.start, *stop, ""))
        first = k + 1
        if first >= end:
            return out + [(*word.end, *word.end, "()")]
    last = _last_significant(toks, first, end)
    if toks[last].string == "," and toks[last].type == tokenize.OP:
        out.append((*toks[last].start, *toks[last].end, ")"))  # `print x,`: the newline left out
    else:
        out.append((*toks[last].end, *toks[last].end, ")"))
        semi = toks[end]
        if semi.string == ";" and semi.line[semi.end[1]:semi.end[1] + 1] == " ":
            out.append((*semi.end, semi.end[0], semi.end[1] + 1, ""))  # `print x; f(y)`: f keeps its column
    if word.end == toks[first].start or word.end[0] != toks[first].start[0]:
        out.append((*word.end, *word.end, "("))
    else:  # the space after the word becomes the bracket: columns stay
        out.append((*word.end, word.end[0], word.end[1] + 1, "("))
    return out


def _last_significant(toks, first: int, end: int) -> int:
    last = end - 1
    while last > first and toks[last].type in (tokenize.NL, tokenize.COMMENT):
        last -= 1
    return last


def _closing(toks, i: int) -> int:
    """The index of the bracket that closes the one at ``i``."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].type == tokenize.OP and toks[j].string in "([{":
            depth += 1
        elif toks[j].type == tokenize.OP and toks[j].string in ")]}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _except_comma(toks, i: int) -> List[Edit]:
    """``except ValueError, e:`` → ``except ValueError as e:``."""
    depth = 0
    j = i + 1
    while j < len(toks) and toks[j].type not in (tokenize.NEWLINE,):
        s = toks[j].string
        if toks[j].type == tokenize.OP:
            if s in "([{":
                depth += 1
            elif s in ")]}":
                depth -= 1
            elif s == "," and depth == 0:
                return [(*toks[j].start, *toks[j].end, " as")]
            elif s == ":" and depth == 0:
                return []
        j += 1
    return []


def _raise_comma(toks, i: int) -> List[Edit]:
    """``raise ValueError, "message"`` → ``raise ValueError("message")``."""
    end = _statement_end(toks, i + 1)
    depth = 0
    for j in range(i + 1, end):
        t = toks[j]
        if t.type != tokenize.OP:
            continue
        if t.string in "([{":
            depth += 1
        elif t.string in ")]}":
            depth -= 1
        elif t.string == "," and depth == 0:
            last = end - 1
            while last > j and toks[last].type in (tokenize.NL, tokenize.COMMENT):
                last -= 1
            return [(*t.start, *t.end, "("), (*toks[last].end, *toks[last].end, ")")]
    return []


def _lambda_tuple(toks, i: int) -> List[Edit]:
    """``lambda (ind, g): g`` (a tuple parameter) → ``lambda  ind, g : g``: the brackets of the
    parameter list become spaces, so the columns stay."""
    close = _closing(toks, i)
    if close < 0 or close + 1 >= len(toks) or toks[close + 1].string != ":":
        return []
    return [(*toks[j].start, *toks[j].end, " ") for j in range(i, close + 1)
            if toks[j].type == tokenize.OP and toks[j].string in "()"]


def _apply(source: str, edits: List[Edit]) -> str:
    lines = source.splitlines(keepends=True)
    for r0, c0, r1, c1, text in sorted(edits, key=lambda e: (e[0], e[1], e[2], e[3]), reverse=True):
        if r0 == r1:
            line = lines[r0 - 1]
            lines[r0 - 1] = line[:c0] + text + line[c1:]
        else:
            head = lines[r0 - 1][:c0] + text + lines[r1 - 1][c1:]
            lines[r0 - 1] = head
            for r in range(r0, r1):
                lines[r] = "\n"  # keep the line count: findings below keep their lines
    return "".join(lines)
