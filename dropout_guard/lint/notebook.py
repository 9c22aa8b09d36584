"""Jupyter notebooks (``.ipynb``): read them as one script, map findings back to cells,
write fixes back in Jupyter's own layout.

* The notebook is read with the standard ``json`` module (nbformat 4; ``source`` is a
  string or a list of strings). Code cells are concatenated top to bottom, one row per
  line, so the analysis sees one module, as if the cells had run in order. Markdown and
  raw cells, cells of a non-Python kernel, and cells that start with a ``%%`` cell magic
  are left out, except the magics that run their cell as Python (``%%time``, ``%%timeit``,
  ``%%capture``, ``%%prun``...: only their first line is masked).
* IPython syntax that is not Python — line magics (``%matplotlib inline``), shell lines
  (``!pip install x``, ``files = !ls``), help (``obj?``) — is masked line by line with a
  ``pass`` at the same indentation, so every other line keeps its row and column. Only
  lines where a statement begins are masked (not lines inside a bracket or a string), and
  with them the lines a backslash continues them onto (``!python prep.py \\`` + arguments).
* A cell of Python 2 whose statements have a Python 3 form (``print x``) is read as
  Python 3, as a ``.py`` file is (``legacy.py``; the notebook's text is kept as written).
* A code cell that is still not Python after masking is skipped (its lines left blank);
  the other cells are analysed. One DG000 per notebook reports the skipped cells, at the
  first of them, its message counting the others.
* ``Notebook.index`` maps a row of the concatenation to (cell number, row in cell). Cell
  numbers count every cell of the notebook from 1, markdown and raw cells included, as ruff
  reports them (its ``NotebookIndex`` keeps the raw cell index); Jupyter itself shows no
  cell numbers (``[N]`` is the execution count). Text, JSON, SARIF, ``--diff``, DG000 and
  quoted lines all use this number.
* ``raw_sources`` / ``raw_position`` map a position in a cell to the line and column of the
  raw JSON text where it is written (SARIF names the ``.ipynb`` file).
* ``Notebook.rebuild`` takes the fixed concatenation, splits it back into the cells (cell
  boundaries are mapped through the applied edits), restores the masked lines, and
  serialises the notebook as Jupyter does: 1-space indent, sorted keys, non-ASCII kept,
  the original trailing newline and newline style. Cells that did not change keep their
  exact original ``source``.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .findings import Edit, Finding, Fix

SUFFIX = ".ipynb"
_NEWLINE = re.compile(r"\r\n|\r|\n")
_HELP = re.compile(r"^\s*(\?{1,2}[\w.]*|[\w.\[\]()]+\?{1,2})\s*$")
_ASSIGN_MAGIC = re.compile(r"^\s*[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[!%]")
_PYTHON = ("python", "python3", "python2", "ipython", "ipython3")


# cell magics whose body IPython runs as Python: the cell is analysed, its first line masked
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit", "mprun"})

class NotebookError(Exception):
    """The file is not a notebook we can read (becomes a DG000 finding)."""

    def __init__(self, message: str, line: int = 1, column: int = 1):
        super().__init__(message)
        self.message = message
        self.line = max(1, line)
        self.column = max(1, column)


@dataclass
class CodeCell:
    index: int  # position in the notebook's "cells" (0-based)
    original: str  # its source as in the notebook
    masked: str  # what the analysis sees
    start: int = 0  # offset of its first character in the concatenation
    end: int = 0  # offset just after its last character (before the separating newline)
    first_row: int = 1  # its first row in the concatenation (1-based)
    magics: Dict[int, str] = field(default_factory=dict)  # row in cell (1-based) -> the masked line
    trailing: str = ""  # the newline the source ends with (left out of the concatenation)
    error: Optional[Tuple[int, int, str]] = None  # (row, column, message) when it is not Python

    @property
    def number(self) -> int:
        return self.index + 1


def displayed_statements(tree: ast.Module, row_index: List[Tuple[int, int]]) -> set:
    """Ids of the top-level expression statements that end a cell of the notebook whose
    concatenated code ``tree`` is: Jupyter displays their value, so what they compute is read."""
    body = tree.body
    out = set()
    for i, stmt in enumerate(body):
        if not isinstance(stmt, ast.Expr):
            continue
        nxt = body[i + 1] if i + 1 < len(body) else None
        if nxt is None or locate_row(row_index, nxt.lineno)[0] != locate_row(row_index, stmt.lineno)[0]:
            out.add(id(stmt))
    return out


def locate_row(row_index: List[Tuple[int, int]], row: int) -> Tuple[int, int]:
    """(cell number, row in cell) of a row of the concatenation (``Notebook.row_index``)."""
    if 1 <= row < len(row_index):
        return row_index[row]
    if len(row_index) > 1:
        cell, last = row_index[-1]
        return cell, last + row - (len(row_index) - 1)
    return 1, row


def _source_text(value, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    raise NotebookError(f"invalid notebook: {where} `source` is neither a string nor a list of strings")


def mask_magics(text: str) -> Tuple[str, Dict[int, str]]:
    """Replace IPython-only lines by ``pass`` (same indentation); (masked text, row -> line)."""
    lines = _NEWLINE.split(text)
    ends = _NEWLINE.findall(text) + [""]
    magics: Dict[int, str] = {}
    depth = 0
    quote: Optional[str] = None  # the open string's quote ("'", '"', "'''" or '"""')
    continued = False
    magic_indent: Optional[str] = None  # set while a masked line goes on (it ends with a backslash)
    out = []
    for row, line in enumerate(lines, 1):
        if magic_indent is not None:  # `!python prep.py \` then `    --out data`: one shell command
            magics[row] = line
            out.append(magic_indent + "pass")
            magic_indent = magic_indent if line.endswith("\\") else None
            continue
        at_start = depth == 0 and quote is None and not continued
        stripped = line.lstrip()
        if at_start and stripped and (stripped[0] in "%!" or _HELP.match(line) or _ASSIGN_MAGIC.match(line)):
            magics[row] = line
            out.append(line[:len(line) - len(stripped)] + "pass")
            magic_indent = line[:len(line) - len(stripped)] if line.endswith("\\") else None
            continue
        out.append(line)
        depth, quote, continued = _scan(line, depth, quote)
    return "".join(line + end for line, end in zip(out, ends)), magics


def _scan(line: str, depth: int, quote: Optional[str]) -> Tuple[int, Optional[str], bool]:
    """Bracket depth, open string and backslash continuation after one line."""
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if quote is not None:
            if c == "\\":
                i += 2
                continue
            if line.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
            i += 1
            continue
        if c == "#":
            return depth, None, False
        if c in "'\"":
            quote = c * 3 if line.startswith(c * 3, i) else c
            i += len(quote)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        i += 1
    ends_backslash = line.endswith("\\")
    if quote is not None and len(quote) == 1 and not ends_backslash:
        quote = None  # an unterminated one-line string: Python will say so
    return depth, quote, ends_backslash and (quote is None or len(quote) == 1)


class Notebook:
    """One parsed notebook and the script the analysis sees."""

    def __init__(self, text: str):
        self.text = text
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NotebookError(f"invalid notebook JSON: {exc.msg}", exc.lineno, exc.colno) from None
        except (ValueError, RecursionError) as exc:
            raise NotebookError(f"invalid notebook JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            if isinstance(data, dict) and "worksheets" in data:
                raise NotebookError("unsupported notebook format (nbformat 3); convert it with "
                                    "`jupyter nbconvert --to notebook --nbformat 4`")
            raise NotebookError("invalid notebook: no `cells` list at the top level")
        major = data.get("nbformat")
        if isinstance(major, int) and major < 4:
            raise NotebookError(f"unsupported notebook format (nbformat {major})")
        self.data = data
        self.cells: List[CodeCell] = []
        if self._python():
            for i, cell in enumerate(data["cells"]):
                if not isinstance(cell, dict):
                    raise NotebookError(f"invalid notebook: cell {i + 1} is not an object")
                if cell.get("cell_type") != "code":
                    continue
                original = _source_text(cell.get("source", ""), f"cell {i + 1}")
                first = next((ln.strip() for ln in _NEWLINE.split(original) if ln.strip()), "")
                if first.startswith("%%") and first[2:].split(" ", 1)[0] not in _PYTHON_CELL_MAGICS:
                    continue  # a cell magic: the whole cell is another language
                masked, magics = mask_magics(original)
                self.cells.append(CodeCell(i, original, masked, magics=magics))
        self._concatenate()

    def _python(self) -> bool:
        meta = self.data.get("metadata") if isinstance(self.data.get("metadata"), dict) else {}
        info = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else {}
        kernel = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
        lang = info.get("name") or kernel.get("language")
        return not isinstance(lang, str) or lang.lower() in _PYTHON

    def _concatenate(self) -> None:
        from .fixes import syntax_error

        whole = self._join()
        if syntax_error(whole) is not None:
            for cell in self.cells:
                err = _cell_error(cell.masked)
                if err is not None and _reads_as_python2(cell.masked):
                    continue  # `print x`: the analysis reads it as Python 3 (engine.parse_source, legacy.py)
                if err is not None:
                    cell.error = err
                    cell.masked = "".join(_NEWLINE.findall(cell.masked))  # blank, rows kept
                    cell.magics = {}
            whole = self._join()
        self.source = whole
        self.row_index: List[Tuple[int, int]] = [(0, 0)]  # row (1-based) -> (cell number, row in cell)
        for cell in self.cells:
            rows = len(_NEWLINE.findall(self._body(cell))) + 1
            self.row_index.extend((cell.number, r) for r in range(1, rows + 1))

    @staticmethod
    def _body(cell: CodeCell) -> str:
        text = cell.masked
        m = re.search(r"(\r\n|\r|\n)\Z", text)
        cell.trailing = m.group() if m else ""
        return text[:m.start()] if m else text

    def _join(self) -> str:
        parts = []
        offset = 0
        row = 1
        for cell in self.cells:
            body = self._body(cell)
            cell.start, cell.end, cell.first_row = offset, offset + len(body), row
            parts.append(body + "\n")
            offset += len(body) + 1
            row += len(_NEWLINE.findall(body)) + 1
        return "".join(parts)

    # -- positions --------------------------------------------------------------------------
    def locate(self, row: int) -> Tuple[int, int]:
        """(cell number, row in cell) of a row of the concatenation."""
        return locate_row(self.row_index, row)

    def to_cells(self, f: Finding) -> Finding:
        """A finding of the concatenation, re-expressed relative to its cell."""
        cell, line = self.locate(f.line)
        end_cell, end_line = self.locate(f.end_line)
        end_col = f.end_column
        if end_cell != cell:
            end_line, end_col = line, f.column
        fix = f.fix
        if fix is not None and fix.edits:
            edits = []
            for e in fix.edits:
                _, el = self.locate(e.line)
                _, eel = self.locate(e.end_line)
                edits.append(Edit(e.content, el, e.column, eel, e.end_column))
            fix = Fix(fix.applicability, fix.message, tuple(edits))
        return Finding(f.code, f.name, f.message, f.path, line, f.column, end_line, end_col, fix, cell,
                       abspath=f.abspath, related=f.related)

    def errors(self, path: str, display: str) -> List[Finding]:
        """One DG000 for the code cells that are not Python (skipped by the analysis), at
        the first of them; its message counts and names the others (an exercise notebook
        with a blank in every cell gets one finding, not one per cell)."""
        bad = [cell for cell in self.cells if cell.error is not None]
        if not bad:
            return []
        row, col, msg = bad[0].error
        if len(bad) == 1:
            note = "this cell was not analysed"
        else:
            others = ", ".join(str(c.number) for c in bad[1:6]) + (", …" if len(bad) > 6 else "")
            note = (f"this cell and {len(bad) - 1} other cell{'s' if len(bad) > 2 else ''} that are not Python "
                    f"(cell{'s' if len(bad) > 2 else ''} {others}) were not analysed: {len(bad)} cells skipped")
        return [Finding("DG000", "file-not-analysed", f"{msg} ({note})", display, row, col, row, col, None,
                        bad[0].number, abspath=path)]

    # -- writing back -----------------------------------------------------------------------
    def rebuild(self, applied) -> Optional[str]:
        """The notebook's new JSON text after ``applied`` (``fixes.Applied``) edited the
        concatenation; None when the edits cannot be mapped back into the cells."""
        new = applied.text
        cells = self.data["cells"]
        old_starts = _line_starts(self.source)
        old_lines = _NEWLINE.split(self.source)
        changed = False
        for cell in self.cells:
            start = applied.map_offset(cell.start, after_insertions=False)
            end = applied.map_offset(cell.end, after_insertions=True)
            if end < start:
                return None
            body = new[start:end]
            if body == self._body_of(cell):
                continue
            if cell.error is not None:
                return None  # a skipped cell cannot have been edited
            lines = _NEWLINE.split(body)
            ends = _NEWLINE.findall(body) + [""]
            offsets = []
            pos = start
            for ln, nl in zip(lines, ends):
                offsets.append(pos)
                pos += len(ln) + len(nl)
            for row, original in cell.magics.items():
                where = applied.map_offset(old_starts[cell.first_row + row - 2], after_insertions=True)
                i = max(k for k, o in enumerate(offsets) if o <= where) if offsets[0] <= where else -1
                if i < 0 or lines[i].strip() != "pass":
                    return None
                indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
                # the masked line's own indentation (a continuation line of a shell command is
                # masked at its first line's): keep what the original has beyond it
                masked = old_lines[cell.first_row + row - 2]
                masked_indent = masked[:len(masked) - len(masked.lstrip())]
                rest = original[len(masked_indent):] if original.startswith(masked_indent) else original.lstrip()
                lines[i] = indent + rest
            text = "".join(ln + nl for ln, nl in zip(lines, ends))
            text += cell.trailing
            source = cells[cell.index].get("source")
            cells[cell.index]["source"] = text.splitlines(keepends=True) if isinstance(source, list) else text
            changed = True
        if not changed:
            return self.text
        return dumps(self.data, self.text)

    def _body_of(self, cell: CodeCell) -> str:
        return self.source[cell.start:cell.end]

    def analysed_cells(self, path: str) -> Dict[str, str]:
        """The text of each analysed cell under ``cell_key`` (for reports that quote lines): its
        source as in the notebook, magics included (masking keeps every row in place, so the
        rows are those of the findings)."""
        return {cell_key(path, c.number): c.original for c in self.cells}

    def cell_sources(self) -> Dict[int, str]:
        """Every code cell's source by cell number (for diffs)."""
        out = {}
        for i, cell in enumerate(self.data["cells"]):
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                try:
                    out[i + 1] = _source_text(cell.get("source", ""), "")
                except NotebookError:
                    continue
        return out


def cell_key(path: str, cell: int) -> str:
    return f"{path}#cell{cell}"


def raw_key(path: str) -> str:
    """The key of a notebook's raw JSON text among the texts reports quote (SARIF maps cell
    positions into it, see ``raw_position``)."""
    return f"{path}#raw"


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_SCALAR = re.compile(r"-?[0-9][0-9.eE+-]*|true|false|null")
_JSON_WS = re.compile(r"[ \t\r\n]*")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "/": "/"}


def _decode_with_offsets(text: str, start: int, end: int) -> Tuple[str, List[int]]:
    """The JSON string ``text[start:end]`` (quotes included) decoded, and for each decoded
    character the offset in ``text`` where it is written (an escape: its backslash)."""
    out: List[str] = []
    offsets: List[int] = []
    i = start + 1
    while i < end - 1:
        c = text[i]
        if c != "\\":
            out.append(c)
            offsets.append(i)
            i += 1
            continue
        e = text[i + 1]
        if e == "u":
            code = int(text[i + 2:i + 6], 16)
            width = 6
            if 0xD800 <= code < 0xDC00 and text.startswith("\\u", i + 6):
                low = int(text[i + 8:i + 12], 16)
                if 0xDC00 <= low < 0xE000:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    width = 12
            out.append(chr(code))
            offsets.append(i)
            i += width
            continue
        out.append(_ESCAPES.get(e, e))
        offsets.append(i)
        i += 2
    return "".join(out), offsets


def raw_sources(text: str) -> Dict[int, Tuple[str, List[int]]]:
    """Each cell's ``source`` as written in the notebook's raw JSON ``text``: by cell index
    (0-based), the decoded source and the raw offset of each of its characters (one more
    entry: the offset just after the source). Empty when the text cannot be scanned."""
    found: Dict[int, Tuple[str, List[int]]] = {}
    n = len(text)

    def ws(i: int) -> int:
        return _JSON_WS.match(text, i).end()

    def skip(i: int, depth: int = 0) -> int:
        """The offset after the JSON value at ``i``."""
        i = ws(i)
        if depth > 200 or i >= n:
            raise ValueError("too deep or truncated")
        c = text[i]
        if c == '"':
            return _JSON_STRING.match(text, i).end()
        if c in "[{":
            close = "]" if c == "[" else "}"
            i = ws(i + 1)
            if text[i] == close:
                return i + 1
            while True:
                if c == "{":
                    i = ws(_JSON_STRING.match(text, ws(i)).end())
                    i += 1  # the colon
                i = ws(skip(i, depth + 1))
                if text[i] == close:
                    return i + 1
                i += 1  # the comma
        m = _JSON_SCALAR.match(text, i)
        if m is None:
            raise ValueError("not JSON")
        return m.end()

    def source_of(i: int) -> Tuple[str, List[int], int]:
        i = ws(i)
        if text[i] == '"':
            end = _JSON_STRING.match(text, i).end()
            decoded, offsets = _decode_with_offsets(text, i, end)
            return decoded, offsets + [end - 1], end
        parts: List[str] = []
        offsets: List[int] = []
        i = ws(i + 1)
        last = i
        while text[i] != "]":
            end = _JSON_STRING.match(text, i).end()
            decoded, offs = _decode_with_offsets(text, i, end)
            parts.append(decoded)
            offsets.extend(offs)
            last = end - 1
            i = ws(end)
            if text[i] == ",":
                i = ws(i + 1)
        return "".join(parts), offsets + [last], i + 1

    def members(i: int):
        """(key, offset of its value) of the object at ``i``; the generator's return: the end."""
        i = ws(i)
        if text[i] != "{":
            raise ValueError("not an object")
        i = ws(i + 1)
        if text[i] == "}":
            return
        while True:
            m = _JSON_STRING.match(text, i)
            key = json.loads(m.group())
            i = ws(m.end()) + 1
            i = yield key, i
            i = ws(i)
            if text[i] == "}":
                return
            i = ws(i + 1)

    try:
        top = members(0)
        item = next(top, None)
        while item is not None:
            key, at = item
            if key != "cells":
                item = _send(top, skip(at))
                continue
            i = ws(at)
            if text[i] != "[":
                return found
            i = ws(i + 1)
            index = 0
            while text[i] != "]":
                cell = members(i)
                entry = next(cell, None)
                while entry is not None:
                    ckey, cat = entry
                    if ckey == "source":
                        decoded, offsets, after = source_of(cat)
                        found[index] = (decoded, offsets)
                    else:
                        after = skip(cat)
                    entry = _send(cell, after)
                i = ws(skip(i))
                if text[i] == ",":
                    i = ws(i + 1)
                index += 1
            item = _send(top, i + 1)
    except (ValueError, IndexError, AttributeError, RecursionError):
        return {}
    return found


def _send(gen, value):
    try:
        return gen.send(value)
    except StopIteration:
        return None


def raw_position(text: str, sources: Dict[int, Tuple[str, List[int]]], cell: int, row: int,
                 column: int) -> Optional[Tuple[int, int]]:
    """The (line, column), both 1-based, in the raw JSON ``text`` where the character at
    (``row``, ``column``) of cell number ``cell`` is written (``raw_sources`` gives
    ``sources``); None when the cell or the position is not in it."""
    entry = sources.get(cell - 1)
    if entry is None:
        return None
    decoded, offsets = entry
    starts = _line_starts(decoded)
    if not 1 <= row <= len(starts):
        return None
    at = starts[row - 1] + column - 1
    line_end = starts[row] if row < len(starts) else len(decoded)
    if not starts[row - 1] <= at <= line_end:
        return None
    raw = offsets[min(at, len(offsets) - 1)]
    line = text.count("\n", 0, raw) + 1
    return line, raw - (text.rfind("\n", 0, raw) + 1) + 1


def _line_starts(text: str) -> List[int]:
    return [0] + [m.end() for m in _NEWLINE.finditer(text)]


def _reads_as_python2(text: str) -> bool:
    """A cell that is Python 2 with a Python 3 form (``print x``): kept, as a ``.py`` file is."""
    from .legacy import python2_as_python3

    rewritten = python2_as_python3(text)
    return rewritten is not None and _cell_error(rewritten) is None


def _cell_error(text: str) -> Optional[Tuple[int, int, str]]:
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except SyntaxError as exc:
        return exc.lineno or 1, exc.offset or 1, f"{type(exc).__name__}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return 1, 1, f"cannot parse cell: {type(exc).__name__}"
    return None


def dumps(data: dict, original: str = "") -> str:
    """Jupyter's own serialisation (nbformat.writes): 1-space indent, sorted keys, non-ASCII
    kept; the original's trailing newline and newline style are kept."""
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": "))
    if original.endswith(("\n", "\r")):
        text += "\n"
    first = _NEWLINE.search(original)
    if first is not None and first.group() != "\n":
        text = text.replace("\n", first.group())
    return text
