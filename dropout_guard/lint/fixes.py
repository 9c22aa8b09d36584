"""Autofix: building fixes (for the rules) and applying them (for the engine).

A fix is data (``findings.Fix``): an applicability and a list of text edits, each a
replacement between two 1-based (line, character column) positions, end exclusive. The
rules build their fixes here, from the ``ast`` tree the analysis already has, ``tokenize``
(which lines begin inside a string literal) and the source text. Nothing here imports
libcst: every edit is an exact text replacement, so formatting, comments and string
contents outside the edited spans are preserved byte for byte, and building the fixes
costs next to nothing when the user is not fixing (the JSON output shows every fix).

Rules of the edits:

* inserted statements take the indentation of the statement they go before (the same
  whitespace characters), and the file's newline (``\\r\\n`` stays ``\\r\\n``);
* a block is wrapped (``with torch.no_grad():``) by inserting one indentation unit (the
  file's own, tabs stay tabs) at the start of each of its lines, except blank lines and
  lines that begin inside a string literal (their text is data);
* ``import torch`` is added after the module docstring and ``from __future__`` imports
  when no module-level name is bound to torch;
* a builder that cannot produce an exact edit (a statement sharing its line with another,
  an ``elif``, a generator, a name that would not be bound) returns no fix: a finding
  without a fix is better than a fix that breaks code.

``apply_fixes`` applies the fixes of one file in one pass: sorted by position, a fix
whose edits overlap an already accepted edit is left for the next round (ruff's
approach; identical edits, such as one ``import torch`` wanted by two fixes, are
applied once). The caller verifies that the result parses, re-lints and repeats until
nothing changes.
"""
from __future__ import annotations

import ast
import bisect
import functools
import io
import re
import tokenize
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from . import knowledge as K
from .findings import Edit, Fix

SAFE, UNSAFE, DISPLAY = "safe", "unsafe", "display-only"
APPLICABILITIES = (SAFE, UNSAFE, DISPLAY)
NEWLINE = re.compile(r"\r\n|\r|\n")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.FunctionDef,
             ast.AsyncFunctionDef, ast.ClassDef) + ((ast.Match,) if hasattr(ast, "Match") else ()) + \
    ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_LAZY = (ast.Lambda, ast.GeneratorExp)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_SUSPEND = (ast.Yield, ast.YieldFrom, ast.Await)
_INFERENCE_NAME = re.compile(
    r"(^|_)(predict|predictions?|infer|inference|eval|evaluate|evaluation|test|valid|validate|validation|score|"
    r"scoring|sample|sampling|generate|decode|embed|embeddings?|encode|classify|detect|serve|serving|handle|"
    r"handler|forecast|translate|transcribe|caption|segment|tag|rank|recommend|estimate|answer|summari[sz]e|"
    r"reconstruct|denoise|visuali[sz]e|plot|show|demo|export|benchmark|measure|accuracy|metrics?)(_|$|\d)",
    re.IGNORECASE)


# ----------------------------------------------------------------------------------------
# Text positions
# ----------------------------------------------------------------------------------------
class SourceText:
    """Line starts of a text (``\\r\\n``, ``\\r`` and ``\\n`` end a line, as for Python)."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in NEWLINE.finditer(text)]
        first = NEWLINE.search(text)
        self.newline = first.group() if first else "\n"

    @property
    def line_count(self) -> int:
        return len(self.starts)

    def line(self, n: int) -> str:
        """Line ``n`` (1-based) without its newline; "" past the end."""
        if not 1 <= n <= len(self.starts):
            return ""
        start = self.starts[n - 1]
        end = self.starts[n] if n < len(self.starts) else len(self.text)
        return NEWLINE.sub("", self.text[start:end], count=1) if n < len(self.starts) else self.text[start:end]

    def offset(self, line: int, column: int) -> Optional[int]:
        """Character offset of a 1-based (line, column); None when outside the text."""
        if not 1 <= line <= len(self.starts) or column < 1:
            return None
        if column - 1 > len(self.line(line)):
            return None
        return self.starts[line - 1] + column - 1

    def position(self, offset: int) -> Tuple[int, int]:
        """1-based (line, column) of a character offset."""
        i = bisect.bisect_right(self.starts, offset) - 1
        return i + 1, offset - self.starts[i] + 1

    def char_col(self, line: int, byte_col: int) -> int:
        """``ast`` columns count UTF-8 bytes; edits count characters (0-based here)."""
        text = self.line(line)
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


# ----------------------------------------------------------------------------------------
# Applying
# ----------------------------------------------------------------------------------------
Span = Tuple[int, int, str]  # (start offset, end offset, new text)


def _conflict(a: Span, b: Span) -> bool:
    if a == b:
        return False
    if a[0] == a[1] == b[0] == b[1]:
        return True  # two different insertions at one point: their order would be a guess
    return a[0] < b[1] and b[0] < a[1]


def fix_spans(text: SourceText, fix: Fix) -> Optional[List[Span]]:
    spans = []
    for e in fix.edits:
        s = text.offset(e.line, e.column)
        t = text.offset(e.end_line, e.end_column)
        if s is None or t is None or t < s:
            return None
        spans.append((s, t, e.content))
    return spans


@dataclass
class Applied:
    text: str
    applied: List[int]  # indexes (into the given fixes) of the fixes applied
    spans: List[Span]  # the edits applied, sorted, in offsets of the old text

    def map_offset(self, offset: int, after_insertions: bool = False) -> int:
        """Where an offset of the old text lands in the new text."""
        shift = 0
        for s, e, content in self.spans:
            if s > offset or (s == e == offset and not after_insertions):
                break
            if e <= offset:
                shift += len(content) - (e - s)
            else:  # inside a replaced range: the start of its replacement
                return s + shift
        return offset + shift


def apply_fixes(source: str, fixes: Sequence[Fix]) -> Applied:
    """Apply the edits of as many ``fixes`` as do not overlap, in position order. A fix
    object given several times (findings that share one fix) is applied once, and every
    index that holds it counts as applied. Cost: O(E log E) in the number of edits."""
    text = SourceText(source)
    order = []
    holders: Dict[int, List[int]] = {}
    for i, fix in enumerate(fixes):
        if id(fix) in holders:
            holders[id(fix)].append(i)
            continue
        holders[id(fix)] = [i]
        spans = fix_spans(text, fix)
        if spans is None or not spans:
            continue
        order.append((min(s[0] for s in spans), i, fix, spans))
    order.sort(key=lambda t: (t[0], t[1]))
    accepted = _Accepted()
    applied: List[int] = []
    for _, i, fix, spans in order:
        new = sorted(s for s in dict.fromkeys(spans) if s not in accepted.seen)
        if any(_conflict(a, b) for a, b in zip(new, new[1:])) or any(accepted.conflicts(s) for s in new):
            continue
        for s in new:
            accepted.add(s)
        applied.extend(holders[id(fix)])
    parts = []
    pos = 0
    for s, e, content in accepted.spans:
        parts.append(source[pos:s])
        parts.append(content)
        pos = e
    parts.append(source[pos:])
    return Applied("".join(parts), sorted(applied), list(accepted.spans))


class _Accepted:
    """The accepted edits, sorted by position. They never overlap one another (two
    insertions at one point are different only if they conflict), so their ends grow with
    their starts, and the edits a new one can conflict with are its neighbours."""

    def __init__(self) -> None:
        self.spans: List[Span] = []
        self.starts: List[Tuple[int, int]] = []
        self.seen: Set[Span] = set()

    def conflicts(self, span: Span) -> bool:
        j = bisect.bisect_right(self.starts, (span[1], span[1]))
        while j > 0:
            j -= 1
            other = self.spans[j]
            if other[1] < span[0]:
                return False
            if _conflict(span, other):
                return True
        return False

    def add(self, span: Span) -> None:
        j = bisect.bisect_right(self.starts, (span[0], span[1]))
        self.starts.insert(j, (span[0], span[1]))
        self.spans.insert(j, span)
        self.seen.add(span)


def syntax_error(source: str) -> Optional[str]:
    """None when ``source`` parses, else a one-line reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(source)
    except SyntaxError as exc:
        return f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def allowed(fix: Optional[Fix], unsafe: bool) -> bool:
    """Whether ``--fix`` applies this fix (``unsafe``: ``--unsafe-fixes`` was given)."""
    if fix is None or not fix.edits:
        return False
    return fix.applicability == SAFE or (unsafe and fix.applicability == UNSAFE)


# ----------------------------------------------------------------------------------------
# Building: per-file facts, computed once and only when a rule asks for a fix
# ----------------------------------------------------------------------------------------
class Kit:
    """What fix builders need of one file: positions, parents, string lines, indentation."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.text = SourceText(ctx.file.source)
        self.tree: ast.Module = ctx.file.tree
        self._parents: Optional[Dict[ast.AST, ast.AST]] = None
        self._in_string: Optional[Set[int]] = None
        self._tokenized = False
        self._unit: Optional[str] = None
        self._torch: Optional[Tuple[Optional[str], Optional[Edit]]] = None
        self.memo: Dict[tuple, object] = {}  # per-statement answers, shared by every fix of the file

    @classmethod
    def of(cls, ctx) -> "Kit":
        kit = getattr(ctx, "fix_kit", None)
        if kit is None:
            kit = cls(ctx)
            ctx.fix_kit = kit
        return kit

    # -- structure ------------------------------------------------------------------------
    @property
    def parents(self) -> Dict[ast.AST, ast.AST]:
        if self._parents is None:
            parents: Dict[ast.AST, ast.AST] = {}
            for node in ast.walk(self.tree):
                for child in ast.iter_child_nodes(node):
                    parents[child] = node
            self._parents = parents
        return self._parents

    def parent(self, node: ast.AST) -> Optional[ast.AST]:
        return self.parents.get(node)

    def statement(self, node: ast.AST) -> Optional[ast.stmt]:
        cur: Optional[ast.AST] = node
        while cur is not None and not isinstance(cur, ast.stmt):
            cur = self.parent(cur)
        return cur

    def between(self, node: ast.AST, top: ast.AST) -> List[ast.AST]:
        """The nodes strictly between ``node`` and its ancestor ``top``."""
        out = []
        cur = self.parent(node)
        while cur is not None and cur is not top:
            out.append(cur)
            cur = self.parent(cur)
        return out

    def block_of(self, stmt: ast.stmt) -> Optional[Tuple[ast.AST, List[ast.stmt]]]:
        parent = self.parent(stmt)
        if parent is None:
            return None
        k = ("blocks", id(parent))
        where = self.memo.get(k)
        if where is None:  # statement id -> its list, once per parent (a long block has many findings)
            where = self.memo[k] = {id(v): value for _, value in ast.iter_fields(parent)
                                    if isinstance(value, list) for v in value}
        found = where.get(id(stmt))
        return (parent, found) if found is not None else None

    def is_elif(self, stmt: ast.stmt) -> bool:
        parent = self.parent(stmt)
        return (isinstance(stmt, ast.If) and isinstance(parent, ast.If) and len(parent.orelse) == 1
                and parent.orelse[0] is stmt and self.text.line(stmt.lineno)[self.col(stmt):].startswith("elif"))

    # -- positions ------------------------------------------------------------------------
    def col(self, node: ast.AST) -> int:
        return self.text.char_col(node.lineno, node.col_offset)

    def end_col(self, node: ast.AST) -> int:
        return self.text.char_col(node.end_lineno, node.end_col_offset)

    def src(self, node: ast.AST) -> str:
        s = self.text.offset(node.lineno, self.col(node) + 1)
        e = self.text.offset(node.end_lineno, self.end_col(node) + 1)
        return self.text.text[s:e]

    def edit(self, content: str, line: int, col0: int, end_line: Optional[int] = None,
             end_col0: Optional[int] = None) -> Edit:
        if end_line is None:
            end_line, end_col0 = line, col0
        return Edit(content, line, col0 + 1, end_line, end_col0 + 1)

    def replace(self, node: ast.AST, content: str) -> Edit:
        return self.edit(content, node.lineno, self.col(node), node.end_lineno, self.end_col(node))

    def prefix(self, stmt: ast.AST) -> str:
        return self.text.line(stmt.lineno)[:self.col(stmt)]

    def starts_line(self, stmt: ast.AST) -> bool:
        return self.prefix(stmt).strip() == ""

    def ends_line(self, stmt: ast.AST) -> bool:
        rest = self.text.line(stmt.end_lineno)[self.end_col(stmt):].strip()
        return rest == "" or rest.startswith("#")

    @property
    def in_string(self) -> Optional[Set[int]]:
        """Lines that begin inside a string literal (their leading text is data); None when
        the file cannot be tokenized."""
        if not self._tokenized:
            self._tokenized = True
            lines: Set[int] = set()
            fstart = getattr(tokenize, "FSTRING_START", None)
            fend = getattr(tokenize, "FSTRING_END", None)
            open_f: List[int] = []
            try:
                for tok in tokenize.generate_tokens(io.StringIO(self.text.text).readline):
                    if tok.type == tokenize.STRING:
                        lines.update(range(tok.start[0] + 1, tok.end[0] + 1))
                    elif fstart is not None and tok.type == fstart:
                        open_f.append(tok.start[0])
                    elif fend is not None and tok.type == fend and open_f:
                        lines.update(range(open_f.pop() + 1, tok.end[0] + 1))
            except (tokenize.TokenError, SyntaxError, ValueError):
                lines = None  # unknown: no fix may re-indent anything
            self._in_string = lines
        return self._in_string

    @property
    def unit(self) -> str:
        """The file's indentation step (the first indented block's, else four spaces)."""
        if self._unit is None:
            self._unit = "    "
            for node in ast.walk(self.tree):
                body = getattr(node, "body", None)
                if isinstance(node, ast.stmt) and isinstance(body, list) and body and \
                        isinstance(body[0], ast.stmt) and body[0].lineno > node.lineno and \
                        self.starts_line(node) and self.starts_line(body[0]):
                    outer, inner = self.prefix(node), self.prefix(body[0])
                    if inner.startswith(outer) and len(inner) > len(outer):
                        self._unit = inner[len(outer):]
                        break
        return self._unit

    # -- building blocks ------------------------------------------------------------------
    def insert_before(self, stmt: ast.stmt, code: str) -> Edit:
        """A statement before ``stmt``: its own line at the same indentation, or ``code; ``
        when ``stmt`` does not begin its line (``if c: stmt``, ``a; stmt``)."""
        if self.starts_line(stmt):
            return self.edit(self.prefix(stmt) + code + self.text.newline, stmt.lineno, 0)
        return self.edit(code + "; ", stmt.lineno, self.col(stmt))

    def insert_after(self, stmt: ast.stmt, code: str) -> Optional[Edit]:
        """A statement on a new line after ``stmt`` (which must begin and end its lines)."""
        if not (self.starts_line(stmt) and self.ends_line(stmt)):
            return None
        line = stmt.end_lineno
        return self.edit(self.text.newline + self.prefix(stmt) + code, line, len(self.text.line(line)))

    def indent_lines(self, first: int, last: int) -> Optional[List[Edit]]:
        """One indentation unit at the start of lines ``first..last`` (not blank, not in a
        string); None when that cannot be known."""
        in_string = self.in_string
        if in_string is None:
            return None
        edits = []
        for line in range(first, last + 1):
            if line in in_string or not self.text.line(line).strip():
                continue
            edits.append(self.edit(self.unit, line, 0))
        return edits

    def wrap(self, first: ast.stmt, last: ast.stmt, header: str) -> Optional[List[Edit]]:
        """``header:`` above the statements ``first..last`` of one block, re-indented."""
        if not (self.starts_line(first) and self.ends_line(last)):
            return None
        nl = self.text.newline
        rest = self.indent_lines(first.lineno + 1, last.end_lineno)
        if rest is None:
            return None
        return [self.edit(header + ":" + nl + self.prefix(first) + self.unit, first.lineno, self.col(first)), *rest]

    def enclosing_function(self, node: ast.AST) -> Optional[ast.AST]:
        cur = self.parent(node)
        while cur is not None and not isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            cur = self.parent(cur)
        return cur

    def torch(self, before_line: int, in_function: bool) -> Optional[Tuple[str, Optional[Edit]]]:
        """(the name torch is bound to, an ``import torch`` edit when it must be added)."""
        if self._torch is None:
            self._torch = self._find_torch()
        name, line = self._torch[0], self._torch[1]
        if name is not None and (in_function or line < before_line):
            return name, None
        if name is not None:
            return None  # imported after the code that needs it: leave the order to the author
        bound = self.ctx.module.imports.get("torch")
        if bound not in (None, "torch") or self._binds_torch():
            return None
        edit = self._import_edit("import torch")
        return ("torch", edit) if edit is not None else None

    def _find_torch(self):
        for stmt in _top_level(self.tree.body):
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.name == "torch" and alias.asname:
                        return alias.asname, stmt.lineno
                    if alias.asname is None and alias.name.split(".")[0] == "torch":
                        return "torch", stmt.lineno
        return None, 0

    def _binds_torch(self) -> bool:
        for node in self.ctx.module.nodes:
            if isinstance(node, ast.Name) and node.id == "torch" and isinstance(node.ctx, ast.Store):
                return True
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == "torch":
                return True
        return False

    def _import_edit(self, code: str) -> Optional[Edit]:
        body = self.tree.body
        i = 0
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
                isinstance(body[0].value.value, str):
            i = 1
        while i < len(body) and isinstance(body[i], ast.ImportFrom) and body[i].module == "__future__":
            i += 1
        nl = self.text.newline
        if i < len(body):
            if not self.starts_line(body[i]):
                return None
            return self.edit(code + nl, body[i].lineno, 0)
        if i == 0:
            return self.edit(code + nl, 1, 0)
        return self.insert_after(body[i - 1], code)


def _top_level(body: List[ast.stmt]) -> Iterable[ast.stmt]:
    """Module-level statements, also inside top-level ``if`` / ``try`` (not ``if TYPE_CHECKING``)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.dump(stmt.test):
            continue
        if isinstance(stmt, (ast.If, ast.Try)) or type(stmt).__name__ == "TryStar":
            for name in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(stmt, name, []) or [])
            for h in getattr(stmt, "handlers", []) or []:
                yield from _top_level(h.body)


def _never_raises(builder: Callable[..., Optional[Fix]]) -> Callable[..., Optional[Fix]]:
    """A fix is a courtesy: a bug in a builder must cost the fix, never the finding."""

    @functools.wraps(builder)
    def wrapper(*args, **kwargs) -> Optional[Fix]:
        try:
            return builder(*args, **kwargs)
        except Exception:  # noqa: BLE001
            return None

    return wrapper


def _fix(applicability: str, message: str, edits: Iterable[Optional[Edit]]) -> Optional[Fix]:
    edits = [e for e in edits if e is not None]
    if applicability != DISPLAY and not edits:
        return None
    return Fix(applicability, message, tuple(sorted(edits, key=lambda e: (e.line, e.column, e.end_line,
                                                                         e.end_column))))


def _names_bound_between(kit: Kit, node: ast.AST, stmt: ast.stmt) -> Optional[Set[str]]:
    """Names bound by comprehensions / lambdas / walruses between ``node`` and ``stmt``;
    None when a lazily evaluated scope (lambda, generator) lies between them."""
    names: Set[str] = set()
    for n in kit.between(node, stmt):
        if isinstance(n, ast.GeneratorExp) and _consumed_at_once(kit, n):
            pass  # sum(model(x) for x in xs) runs right here, like a list comprehension
        elif isinstance(n, _LAZY) or isinstance(n, _SCOPES):
            return None
        if isinstance(n, _COMPREHENSIONS):
            for gen in n.generators:
                names |= {t.id for t in ast.walk(gen.target) if isinstance(t, ast.Name)}
    for n in ast.walk(stmt):
        if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name):
            names.add(n.target.id)
    return names


_CONSUMERS = frozenset({"sum", "list", "tuple", "set", "frozenset", "dict", "any", "all", "max", "min", "sorted"})


def _consumed_at_once(kit: Kit, gen: ast.GeneratorExp) -> bool:
    """A generator passed straight to a builtin that exhausts it (or to ``str.join`` /
    ``list.extend``)."""
    call = kit.parent(gen)
    if not (isinstance(call, ast.Call) and any(a is gen for a in call.args)):
        return False
    f = call.func
    return (isinstance(f, ast.Name) and f.id in _CONSUMERS) or (isinstance(f, ast.Attribute) and
                                                                 f.attr in ("join", "extend"))


def _key_usable(kit: Kit, key: str, node: ast.AST, stmt: ast.stmt) -> bool:
    """``key`` (``model``, ``self.net``) is a plain name path that ``node`` uses and that is
    bound where ``stmt`` begins."""
    if not key or not _PATH.match(key):
        return False
    from .flow import path_of

    if not any(isinstance(n, (ast.Name, ast.Attribute)) and path_of(n) == key for n in ast.walk(node)):
        return False
    bound = _names_bound_between(kit, node, stmt)
    return bound is not None and key.split(".")[0] not in bound


def _placement(kit: Kit, node: ast.AST, scope: ast.AST) -> Optional[ast.stmt]:
    """The statement before which code for ``node`` goes (an ``elif`` moves up to its ``if``)."""
    stmt = kit.statement(node)
    if stmt is None or isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return None  # a decorator or a default value
    while kit.is_elif(stmt):
        stmt = kit.parent(stmt)
    if stmt is scope:
        return None
    return stmt


def _scope_node(unit) -> ast.AST:
    return unit.node


def _events_in(unit, stmt: ast.stmt) -> List[object]:
    """The flow analysis' events on nodes of ``stmt`` (nested scopes have their own units)."""
    out = []
    for n in ast.walk(stmt):
        out.extend(unit.events_on(n))
    return out


def _siblings(kit: Kit, stmt: ast.stmt) -> Optional[Tuple[List[ast.stmt], int]]:
    found = kit.block_of(stmt)
    if found is None:
        return None
    body = found[1]
    k = ("index", id(body))
    index = kit.memo.get(k)
    if index is None:  # one map per block: a long block has many findings
        index = kit.memo[k] = {id(s): j for j, s in enumerate(body)}
    return body, index[id(stmt)]


def _run_edge(kit: Kit, body: List[ast.stmt], i: int, key: object, joins: Callable[[int], bool],
              step: int) -> int:
    """The first (``step`` -1) or last (``step`` +1) index of the run of statements around
    ``body[i]``, where ``joins(j)`` says that ``body[j]`` belongs to the run of its neighbour
    towards ``i``. Memoised per (block, key, direction): every finding of a run gets the same
    answer, and the walk costs each statement once in all, not once per finding."""
    memo = kit.memo.setdefault(("run_edge", id(body), key, step), {})
    path = []
    j = i
    while j not in memo and 0 <= j + step < len(body) and joins(j + step):
        path.append(j)
        j += step
    edge = memo.get(j, j)
    for m in path:
        memo[m] = edge
    memo[i] = edge
    return edge


def _shared(kit: Kit, key: tuple, build: Callable[[], Optional[Fix]]) -> Optional[Fix]:
    """One fix object for every finding that the same edits fix (a run of predictions gets
    one ``with`` block or one switch): built once, never copied per finding, so the fixes of
    a long function cost time and memory linear in its length, and the reports can tell
    that the findings share it."""
    k = ("fix",) + key
    if k not in kit.memo:
        kit.memo[k] = build()
    return kit.memo[k]


def _own_line(body: List[ast.stmt], i: int) -> bool:
    """``body[i]`` shares no line with its neighbours."""
    return not ((i > 0 and body[i - 1].end_lineno >= body[i].lineno) or
                (i + 1 < len(body) and body[i + 1].lineno <= body[i].end_lineno))


def _predicts_only(ctx, unit, stmt: ast.stmt, key: Optional[str] = None) -> bool:
    """``stmt`` is a simple statement whose model calls are all predictions (of ``key``, when
    given, at least one of them) and that trains nothing. (Memoised: fixes walk back over
    the same statements, which would be quadratic in a long function.)"""
    memo = Kit.of(ctx).memo
    k = ("predicts_only", id(unit), id(stmt), key)
    if k not in memo:
        memo[k] = _predicts_only_uncached(ctx, unit, stmt, key)
    return memo[k]


def _predicts_only_uncached(ctx, unit, stmt: ast.stmt, key: Optional[str]) -> bool:
    if isinstance(stmt, _COMPOUND) or any(isinstance(n, _SUSPEND) for n in ast.walk(stmt)):
        return False
    project = ctx.project
    evs = _events_in(unit, stmt)
    if not evs:
        return False
    kit = Kit.of(ctx)
    for ev in evs:
        if _names_bound_between(kit, ev.node, stmt) is None:
            return False  # runs later (a lambda, a generator kept for later)
        if ev.kind == "call":
            if project.effective_role(unit, ev) != "predict":
                return False
        elif ev.kind == "helper":
            if project.effective_use(unit, ev) != "predict" or not _helper_keeps_eval(project, unit, ev):
                return False
        elif ev.kind == "returned":
            if ev.role != "predict":
                return False
        else:
            return False
    return key is None or any(ev.key == key for ev in evs)


def _helper_keeps_eval(project, unit, ev) -> bool:
    """The helper leaves the model in the mode it got (or in eval): a switch placed before the
    call then still holds after it. One that ends in training mode undoes it."""
    from .flow import ENTRY, EVAL, kinds, path_of

    callee = project.resolve_callee(unit, ev.node, None, None)
    if callee is None:
        return False
    for param, arg in project.bind_args(callee, ev.node):
        if path_of(arg) == ev.key:
            exits = callee.summary.exits.get(param)
            return exits is not None and kinds(exits) <= {ENTRY, EVAL}
    return False


# ----------------------------------------------------------------------------------------
# DG101 / DG102: insert the mode switch
# ----------------------------------------------------------------------------------------
@_never_raises
def insert_eval(ctx, unit, ev) -> Optional[Fix]:
    """DG101: ``<model>.eval()`` on the line before the prediction (or the call that passes
    the model to a predicting helper)."""
    kit = Kit.of(ctx)
    stmt = _placement(kit, ev.node, _scope_node(unit))
    if stmt is None or not _key_usable(kit, ev.key, ev.node, stmt):
        return None
    # consecutive predictions with the same model share one switch (before the first of them)
    found = _siblings(kit, stmt)
    if found is not None:
        body, i = found
        bare = _bare_mode_attr_before(kit, body, i, ev.key, "eval")
        if bare is not None:  # `model.eval` written without the call (DG103): call it
            return _fix(UNSAFE, f"Call `{ev.key}.eval()`", [kit.edit("()", bare.end_lineno, kit.end_col(bare))])
        i = _run_edge(kit, body, i, ("eval", id(unit), ev.key),
                      lambda j: _own_line(body, j) and _predicts_only(ctx, unit, body[j], ev.key) and
                      not _binds(body[j], ev.key), -1)
        stmt = body[i]
    return _shared(kit, ("eval", ev.key, id(stmt)), lambda: _fix(
        UNSAFE, f"Call `{ev.key}.eval()` before the prediction", [kit.insert_before(stmt, f"{ev.key}.eval()")]))


def _bare_mode_attr_before(kit: Kit, body: List[ast.stmt], i: int, key: str, attr: str) -> Optional[ast.Attribute]:
    """The last ``key.<attr>`` bare statement in ``body[:i]`` that nothing after it undoes.
    Memoised per (block, key, attr) and filled forwards: each statement is looked at once,
    however many findings the block holds."""
    from .flow import path_of

    memo = kit.memo.setdefault(("bare", id(body), key, attr), [None])  # memo[j]: the answer for body[:j]
    while len(memo) <= i:
        j = len(memo) - 1
        s = body[j]
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Attribute) and s.value.attr == attr and \
                path_of(s.value.value) == key:
            found = s.value
        elif _binds(s, key) or any(isinstance(n, ast.Attribute) and n.attr in ("train", "eval") and
                                   path_of(n.value) == key for n in ast.walk(s)):
            found = None
        else:
            found = memo[j]
        memo.append(found)
    return memo[i]


def _binds(loop: ast.AST, key: str) -> bool:
    """Whether anything in ``loop`` (its target included) rebinds ``key`` or its root name."""
    from .flow import path_of

    root = key.split(".")[0]
    for n in ast.walk(loop):
        if isinstance(n, ast.Name) and n.id == root and isinstance(n.ctx, (ast.Store, ast.Del)):
            return True
        if isinstance(n, ast.Attribute) and isinstance(n.ctx, (ast.Store, ast.Del)) and path_of(n) == key:
            return True
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == root:
            return True
        if isinstance(n, (ast.Import, ast.ImportFrom)) and any(
                (a.asname or a.name.split(".")[0]) == root for a in n.names):
            return True
    return False


@dataclass(frozen=True)
class TrainPlacement:
    """Where DG102's ``<model>.train()`` goes: first in ``loop`` (its line) when set, else right
    before the training statement ``step`` (its line); ``earlier``: the line of a
    ``<model>.train()`` that already runs before the step in an enclosing block (the
    switch is there, only in the wrong place)."""
    step: int
    loop: Optional[int]
    outermost: bool  # ``loop`` is the outermost loop around the step (the epoch loop)
    earlier: Optional[int]
    _target: Optional[ast.AST] = None
    _stmt: Optional[ast.AST] = None


def train_placement(ctx, unit, ev, origin_line: int) -> Optional[TrainPlacement]:
    """DG102: the place for ``<model>.train()`` (shared by the fix and the rule's message):
    the first statement of the innermost loop around the training call that also holds what
    switched the model to eval, when that switch comes after the call (the back edge
    carries eval mode into the next pass), else of the outermost loop around the call when
    the switch is outside every loop; before the call's statement otherwise (a switch
    earlier in the same pass, no loop, or a loop that rebinds the model). None when the
    place cannot be named (a nested scope, an unusable key)."""
    kit = Kit.of(ctx)
    scope = _scope_node(unit)
    stmt = _placement(kit, ev.node, scope)
    if stmt is None or not _key_usable(kit, ev.key, ev.node, stmt):
        return None
    loops = []
    earlier = None
    child: ast.AST = stmt
    for anc in kit.between(stmt, scope):
        if isinstance(anc, _SCOPES):
            return None
        if isinstance(anc, _LOOPS) and any(s is child for s in anc.body):
            loops.append(anc)
        if earlier is None:
            earlier = _train_switch_before(anc, child, ev.key)
        child = anc
    if earlier is None and child is not scope:
        earlier = _train_switch_before(scope, child, ev.key)
    target = None
    for loop in loops:  # innermost first
        if loop.lineno <= origin_line <= loop.end_lineno:
            # switched after the step (an evaluation later in the epoch): the back edge carries
            # it into the next epoch, so the loop's start is the place; switched earlier in the
            # same pass: only right before the step helps
            target = loop if origin_line > stmt.end_lineno else None
            break
    else:
        if loops:
            target = loops[-1]
    if target is not None and _binds(target, ev.key):
        target = None
    return TrainPlacement(stmt.lineno, target.lineno if target is not None else None,
                          bool(loops) and target is loops[-1], earlier, target, stmt)


def _train_switch_before(block_owner: ast.AST, child: ast.AST, key: str) -> Optional[int]:
    """The line of the last ``key.train()`` statement before ``child`` in the block of
    ``block_owner`` that holds it."""
    from .flow import path_of

    for name in ("body", "orelse", "finalbody"):
        block = getattr(block_owner, name, None)
        if isinstance(block, list) and any(s is child for s in block):
            found = None
            for s in block:
                if s is child:
                    return found
                if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and \
                        isinstance(s.value.func, ast.Attribute) and s.value.func.attr == "train" and \
                        path_of(s.value.func.value) == key:
                    found = s.lineno
    return None


@_never_raises
def insert_train(ctx, unit, ev, origin_line: int) -> Optional[Fix]:
    """DG102: ``<model>.train()`` where ``train_placement`` says."""
    kit = Kit.of(ctx)
    place = train_placement(ctx, unit, ev, origin_line)
    if place is None:
        return None
    target, stmt = place._target, place._stmt
    code = f"{ev.key}.train()"
    # a bare `model.train` (DG103) where the switch belongs: call it (the same edit as DG103's)
    candidates = target.body if target is not None else (_siblings(kit, stmt) or ([], 0))[0]
    for s in candidates:
        if s is stmt or (target is None and s.lineno > stmt.lineno):
            break
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Attribute) and s.value.attr == "train":
            from .flow import path_of

            if path_of(s.value.value) == ev.key:
                return _fix(UNSAFE, f"Call `{code}`", [kit.edit("()", s.value.end_lineno, kit.end_col(s.value))])
    if target is not None:
        first = target.body[0]
        return _fix(UNSAFE, f"Call `{code}` at the start of the loop body", [kit.insert_before(first, code)])
    return _fix(UNSAFE, f"Call `{code}` before the training step", [kit.insert_before(stmt, code)])


# ----------------------------------------------------------------------------------------
# DG103 / DG104: the mode switch written wrong
# ----------------------------------------------------------------------------------------
@_never_raises
def call_mode_method(ctx, node: ast.Attribute) -> Optional[Fix]:
    """DG103: ``model.eval`` -> ``model.eval()``."""
    kit = Kit.of(ctx)
    stmt = kit.parent(node)
    if not (isinstance(stmt, ast.Expr) and stmt.value is node):
        return None
    return _fix(UNSAFE, f"Call `{kit.src(node)}()`", [kit.edit("()", node.end_lineno, kit.end_col(node))])


@_never_raises
def read_training_flag(ctx, node: ast.Attribute) -> Optional[Fix]:
    """DG103: ``self.train`` read as a truth value -> ``self.training`` (``self.eval``:
    ``(not self.training)``)."""
    kit = Kit.of(ctx)
    recv = kit.src(node.value)
    text = f"{recv}.training" if node.attr == "train" else f"(not {recv}.training)"
    return _fix(UNSAFE, f"Read `{text}`", [kit.replace(node, text)])


_BOOLISH = (ast.Compare, ast.UnaryOp)


@_never_raises
def assign_to_train(ctx, stmt: ast.AST) -> Optional[Fix]:
    """DG104: ``model.training = False`` -> ``model.eval()`` (``True``: ``model.train()``;
    anything else: ``model.train(bool(value))``, as ``train`` accepts only a bool)."""
    kit = Kit.of(ctx)
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = stmt.targets[0], stmt.value
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None and stmt.simple == 0:
        target, value = stmt.target, stmt.value
    else:
        return None
    if not (isinstance(target, ast.Attribute) and target.attr == "training"):
        return None
    obj = kit.src(target.value)
    if isinstance(target.value, (ast.BinOp, ast.BoolOp, ast.IfExp, ast.Lambda, ast.NamedExpr, ast.Await,
                                 ast.Compare, ast.UnaryOp)):
        obj = f"({obj})"
    if isinstance(value, ast.Constant) and value.value is False:
        code = f"{obj}.eval()"
    elif isinstance(value, ast.Constant) and value.value is True:
        code = f"{obj}.train()"
    elif isinstance(value, ast.Compare) or (isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not)):
        code = f"{obj}.train({kit.src(value)})"
    else:
        code = f"{obj}.train(bool({kit.src(value)}))"
    return _fix(UNSAFE, f"Replace the assignment with `{code}`", [kit.replace(stmt, code)])


# ----------------------------------------------------------------------------------------
# DG201 / DG202: gradient tracking
# ----------------------------------------------------------------------------------------
def _grad_handled(ctx, nodes: Iterable[ast.AST]) -> bool:
    names = K.NO_GRAD_CONTEXTS | K.ENABLE_GRAD_CONTEXTS | K.SET_GRAD_ENABLED
    for n in nodes:
        if isinstance(n, ast.Call) and ctx.resolve(n.func) in names:
            return True
    return False


def _reaches_training(project, unit, depth: int = 0, seen: Optional[Set[str]] = None) -> bool:
    """Whether ``unit`` or anything it calls (in the analysed code) runs a backward pass or
    an optimizer step: a ``no_grad`` around it would break training."""
    seen = set() if seen is None else seen
    if unit.id in seen or depth > 50:
        return False
    seen.add(unit.id)
    if unit.summary.steps or unit.summary.backward_params or unit.summary.trains or getattr(unit, "steps", None):
        return True
    if any(ev.kind == "backward" for ev in unit.events.values()):
        return True
    for callee_id, _ in unit.edges:
        callee = project.units.get(callee_id)
        if callee is not None and _reaches_training(project, callee, depth + 1, seen):
            return True
    return False


def _decoratable(ctx, unit) -> bool:
    """A function that only predicts: decorating it with ``@torch.no_grad()`` keeps its intent."""
    fn = unit.fn
    project = ctx.project
    if fn is None or not isinstance(fn.node, ast.FunctionDef) or project is None:
        return False
    if unit.is_module_method or unit.is_lightning or fn.name.startswith("__"):
        return False
    if not (_INFERENCE_NAME.search(fn.name) or fn.qualname in ctx.knowledge.inference_functions):
        return False
    if any(isinstance(n, _SUSPEND) for n in unit.nodes) or _grad_handled(ctx, unit.nodes):
        return False
    for d in fn.node.decorator_list:
        q = ctx.resolve(d.func if isinstance(d, ast.Call) else d)
        if q in K.NO_GRAD_CONTEXTS | K.ENABLE_GRAD_CONTEXTS | K.SET_GRAD_ENABLED or \
                q in ctx.knowledge.no_grad_decorators:
            return False
    for ev in unit.events.values():
        if ev.kind == "call" and project.effective_role(unit, ev) != "predict":
            return False
        if ev.kind == "helper" and project.effective_use(unit, ev) != "predict":
            return False
    return not _reaches_training(project, unit)


@_never_raises
def no_grad(ctx, unit, ev) -> Optional[Fix]:
    """DG201: decorate an inference function with ``@torch.no_grad()``, else wrap the
    prediction's statement in ``with torch.no_grad():``."""
    kit = Kit.of(ctx)
    k = ("decoratable", id(unit))
    if k not in kit.memo:  # once per function, not once per finding in it
        kit.memo[k] = _decoratable(ctx, unit)
    if kit.memo[k]:
        fn = unit.fn.node
        found = kit.torch(fn.lineno, in_function=kit.enclosing_function(fn) is not None)
        if found is not None:
            name, imp = found
            code = f"@{name}.no_grad()"
            return _shared(kit, ("decorate", id(fn)), lambda: _fix(
                UNSAFE, f"Decorate `{unit.fn.name}()` with `{code}`",
                [imp, kit.edit(kit.prefix(fn) + code + kit.text.newline, fn.lineno, 0)]))
    stmt = kit.statement(ev.node)
    if stmt is None or isinstance(stmt, _COMPOUND) or kit.is_elif(stmt):
        return None  # in a header (``for y in model(x):``): wrapping would cover the whole block
    if _names_bound_between(kit, ev.node, stmt) is None:
        return None  # a lambda or generator runs later, outside any block around this statement
    if any(isinstance(n, _SUSPEND) for n in ast.walk(stmt)):
        return None  # grad mode is thread state: it would leak to whatever runs while suspended
    found = kit.torch(stmt.lineno, in_function=kit.enclosing_function(stmt) is not None)
    if found is None:
        return None
    name, imp = found
    first = last = stmt
    sib = _siblings(kit, stmt)
    if sib is not None:  # nothing else may share the statement's lines
        body, i = sib
        if not _own_line(body, i):
            return None
        # consecutive statements that only predict go into one block
        def joins(j: int) -> bool:
            return _own_line(body, j) and _predicts_only(ctx, unit, body[j])

        run = ("no_grad", id(unit))
        first, last = body[_run_edge(kit, body, i, run, joins, -1)], body[_run_edge(kit, body, i, run, joins, 1)]

    def build() -> Optional[Fix]:
        edits = kit.wrap(first, last, f"with {name}.no_grad()")
        if edits is None:
            return None
        return _fix(UNSAFE, f"Wrap the prediction in `with {name}.no_grad():`", [imp, *edits])

    return _shared(kit, ("no_grad", id(first), id(last)), build)


@_never_raises
def enter_grad_context(ctx, call: ast.Call, qualified: str) -> Optional[Fix]:
    """DG202: make the bare statement do what it says for the code after it in its block:
    those statements are wrapped in ``with torch.no_grad():`` (scoped: the state is
    restored after them, also at module level, so importing the module cannot switch
    gradients off for the importer). In a notebook's top level, where the rest of the
    notebook is in other cells, it becomes ``torch.set_grad_enabled(False)`` (``True`` for
    ``enable_grad``). With nothing after it the statement is removed (safe: it did nothing)."""
    kit = Kit.of(ctx)
    stmt = kit.parent(call)
    if not (isinstance(stmt, ast.Expr) and stmt.value is call):
        return None
    found = kit.block_of(stmt)
    if found is None:
        return None
    parent, body = found
    i = next(j for j, s in enumerate(body) if s is stmt)
    if (i > 0 and body[i - 1].end_lineno >= stmt.lineno) or \
            (i + 1 < len(body) and body[i + 1].lineno <= stmt.end_lineno):
        return None  # shares a line with another statement
    if not (kit.starts_line(stmt) and kit.ends_line(stmt)):
        return None
    short = qualified.rsplit(".", 1)[-1]
    text = kit.src(call)
    rest = body[i + 1:]
    if not rest:
        if len(body) == 1:
            return _fix(SAFE, "Replace the no-op statement with `pass`", [kit.replace(call, "pass")])
        end = (stmt.end_lineno + 1, 0) if stmt.end_lineno < kit.text.line_count else \
            (stmt.end_lineno, len(kit.text.line(stmt.end_lineno)))
        return _fix(SAFE, "Remove the no-op statement", [kit.edit("", stmt.lineno, 0, *end)])
    if isinstance(parent, ast.Module) and ctx.file.path.endswith(".ipynb"):
        if call.args or call.keywords:
            return None
        found_t = kit.torch(stmt.lineno, in_function=False)
        if found_t is None:
            return None
        name, imp = found_t
        code = f"{name}.set_grad_enabled({'True' if short == 'enable_grad' else 'False'})"
        extra = " (`inference_mode` has no statement form)" if short == "inference_mode" else ""
        return _fix(UNSAFE, f"Replace with `{code}` for the rest of the notebook{extra}",
                    [imp, kit.replace(call, code)])
    if any(isinstance(n, _SUSPEND) for s in rest for n in _walk_scope(s)):
        return None  # grad mode is thread state: it would leak to whatever runs while suspended
    if any(isinstance(s, ast.ImportFrom) and s.module == "__future__" for s in rest):
        return None
    last = rest[-1]
    if not kit.ends_line(last):
        return None
    rest_edits = kit.indent_lines(stmt.end_lineno + 1, last.end_lineno)
    if rest_edits is None:
        return None
    edits = [kit.replace(call, f"with {text}:"), *rest_edits]
    return _fix(UNSAFE, f"Use `with {text}:` around the statements that follow it", edits)


def _walk_scope(node: ast.AST) -> Iterable[ast.AST]:
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        if isinstance(cur, _SCOPES):
            continue  # a definition's body does not run here
        stack.extend(ast.iter_child_nodes(cur))


# ----------------------------------------------------------------------------------------
# DG301 / DG302: dropout in module code
# ----------------------------------------------------------------------------------------
def _self_name(fn_node: ast.AST) -> Optional[str]:
    for d in fn_node.decorator_list:
        if isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod"):
            return None
    a = fn_node.args
    pos = [*a.posonlyargs, *a.args]
    return pos[0].arg if pos else None


@_never_raises
def training_keyword(ctx, method_node: ast.AST, call: ast.Call) -> Optional[Fix]:
    """DG301: add ``training=self.training`` after the call's last argument."""
    kit = Kit.of(ctx)
    me = _self_name(method_node)
    if me is None:
        return None
    args = [*call.args, *call.keywords]
    code = f"training={me}.training"
    if not args:
        end = (call.end_lineno, kit.end_col(call) - 1)
        return _fix(SAFE, f"Pass `{code}`", [kit.edit(code, *end)])
    last = max(args, key=lambda a: (a.end_lineno, a.end_col_offset))
    return _fix(SAFE, f"Pass `{code}`", [kit.edit(f", {code}", last.end_lineno, kit.end_col(last))])


@_never_raises
def gate_dropout_p(ctx, method_node: ast.AST, rate: ast.expr) -> Optional[Fix]:
    """DG303: ``dropout_p=X`` (or ``X`` in its position) becomes ``X if self.training else 0.0``."""
    kit = Kit.of(ctx)
    me = _self_name(method_node)
    if me is None:
        return None
    tail = f" if {me}.training else 0.0"
    if isinstance(rate, (ast.IfExp, ast.Lambda, ast.NamedExpr, ast.Yield, ast.YieldFrom)):
        # `a if b else c` and lambdas bind looser than the condition's body: parenthesise
        start = kit.edit("(", rate.lineno, kit.col(rate))
        return _fix(SAFE, f"Use `dropout_p=(...){tail}`", [start, kit.edit(")" + tail, rate.end_lineno,
                                                                          kit.end_col(rate))])
    return _fix(SAFE, f"Use `dropout_p=...{tail}`", [kit.edit(tail, rate.end_lineno, kit.end_col(rate))])


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _is_super_init(stmt: ast.stmt) -> bool:
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    f = stmt.value.func
    return isinstance(f, ast.Attribute) and f.attr == "__init__"


@_never_raises
def move_dropout(ctx, class_info, method_node: ast.AST, call: ast.Call, layer: str) -> Optional[Fix]:
    """DG302: build the dropout once in ``__init__`` (``self.dropout = nn.Dropout(0.1)``) and
    use the attribute where it was built. Unsafe when the arguments are constants or
    attributes that only ``__init__`` sets; display-only otherwise (the arguments depend on
    the call, or there is no ``__init__`` to put it in)."""
    kit = Kit.of(ctx)
    me = _self_name(method_node)
    init = class_info.methods.get("__init__")
    init_node = init.node if init is not None else None
    init_self = _self_name(init_node) if isinstance(init_node, ast.FunctionDef) else None
    text = kit.src(call)
    message = f"Build `{text}` once in `__init__`"
    if me is None or init_self is None or "\n" in text or "\r" in text:
        return _fix(DISPLAY, message + " and use it here", [])
    cls_node = class_info.node
    # an attribute that __init__ already builds the same way: reuse it
    for stmt in init_node.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], ast.Attribute) and isinstance(stmt.targets[0].value, ast.Name) and \
                stmt.targets[0].value.id == init_self and ast.dump(stmt.value) == ast.dump(call):
            attr = stmt.targets[0].attr
            if me == init_self and not _assigned_outside_init(cls_node, attr, init_node):
                return _fix(UNSAFE, f"Use `{me}.{attr}`, built once in `__init__`", [kit.replace(call, f"{me}.{attr}")])
    selves = {n for n in (_self_name(f) for f in cls_node.body if isinstance(f, (ast.FunctionDef,
                                                                               ast.AsyncFunctionDef))) if n}
    used = {n.attr for n in ast.walk(cls_node)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in selves}
    used |= {t.id for s in cls_node.body if isinstance(s, (ast.Assign, ast.AnnAssign))
             for t in ast.walk(s) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
    used |= {s.name for s in cls_node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    # one name per distinct construction in the class (every finding of this round agrees:
    # equal constructions share an attribute, different ones never collide)
    base = _snake(layer)
    distinct: List[str] = []
    for fn in cls_node.body:
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn is not init_node:
            for n in ast.walk(fn):
                if isinstance(n, ast.Call) and isinstance(n.func, (ast.Name, ast.Attribute)) and \
                        _snake(n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id) == base:
                    d = ast.dump(n)
                    if d not in distinct:
                        distinct.append(d)
    names: List[str] = []
    k = 0
    while len(names) <= distinct.index(ast.dump(call)):
        candidate = base if k == 0 else f"{base}_{k}"
        k += 1
        if candidate not in used:
            names.append(candidate)
    attr = names[-1]
    # movable: constant arguments, or attributes that only __init__ sets (before the new line)
    movable = me == init_self and _module_level_callable(ctx, call.func)
    needed: Set[str] = set()
    for a in [*call.args, *(kw.value for kw in call.keywords)]:
        if _constant(a):
            continue
        if isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name) and a.value.id == me:
            needed.add(a.attr)
            if _assigned_outside_init(cls_node, a.attr, init_node):
                movable = False  # a rate changed at run time (a dropout schedule) would be frozen
            continue
        movable = False
    body = init_node.body
    anchor = next((i for i, s in enumerate(body) if _is_super_init(s)), None)
    for name in needed:
        where = [i for i, s in enumerate(body) for n in ast.walk(s)
                 if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and n.attr == name
                 and isinstance(n.value, ast.Name) and n.value.id == init_self]
        if not where:
            movable = False
        elif anchor is not None:
            anchor = max(anchor, max(where))
    if anchor is None:
        movable = False
    target = body[anchor] if anchor is not None else body[-1]
    ins = kit.insert_after(target, f"{init_self}.{attr} = {text}")
    edits = [ins, kit.replace(call, f"{me}.{attr}")] if ins is not None else []
    applicability = UNSAFE if movable and ins is not None else DISPLAY
    return _fix(applicability, f"Build `{text}` once in `__init__` as `{init_self}.{attr}`", edits)


def _constant(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) and \
        isinstance(node.operand, ast.Constant)


def _assigned_outside_init(cls_node: ast.ClassDef, attr: str, init_node: ast.AST) -> bool:
    for fn in cls_node.body:
        if fn is init_node or not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for n in ast.walk(fn):
            if isinstance(n, ast.Attribute) and n.attr == attr and isinstance(n.ctx, (ast.Store, ast.Del)):
                return True
    return False


def _module_level_callable(ctx, func: ast.AST) -> bool:
    """The constructor's root name is imported at module level (``__init__`` sees it too)."""
    from .flow import path_of

    key = path_of(func)
    if key is None:
        return False
    root = key.split(".")[0]
    for stmt in _top_level(ctx.file.tree.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for a in stmt.names:
                if (a.asname or a.name.split(".")[0]) == root:
                    return True
    return False
