"""Notebook documents (``notebookDocument/*``): the cells an editor holds, read as the
notebook ``check`` reads, and the findings put back on the cells' documents; no protocol.

* ``NotebookBuffer`` holds a snapshot of one open ``.ipynb`` notebook: its cells in order
  (each its text document's URI, version and text — the buffer, not the file on disk) and
  ``text``, a notebook JSON with those cells. That text goes to the analysis in place of
  the file, so the code cells are one program exactly as ``check`` analyses a notebook
  (``lint/notebook.py``: cells joined top to bottom, IPython lines masked, a cell that is
  not Python skipped with one DG000, ``%%`` cell magics left out). Markup cells become
  markdown cells and code cells of another language raw cells: both are left out of the
  analysis and keep the numbering of the cells.
* ``place`` takes a finding in the rows of the code cells' concatenation (as
  ``check_paths(cells=False)`` gives them) to the cell it is in, with its positions in that
  cell. Its fix stays only when every edit lies in that same cell and touches no masked
  IPython line; otherwise the quick fix is not offered (fix-all, which rebuilds the whole
  notebook, still applies it). ``masked_rows`` are the rows of a cell that the analysis saw
  as ``pass`` (no ``# noqa`` is offered there: the comment would be masked with the line).
* ``cell_edits`` turns the notebook JSON that fix-all produced back into per-cell new texts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Set, Tuple

from dropout_guard.lint.findings import Finding
from dropout_guard.lint.notebook import Notebook, NotebookError

PYTHON_LANGUAGES = frozenset({"python", "python3", "ipython", "ipython3"})


@dataclass(frozen=True)
class Cell:
    uri: str  # its text document's URI, as the client sent it
    code: bool  # a code cell (else markup)
    language: str  # the languageId of its text document
    version: Optional[int]
    text: str

    @property
    def analysed(self) -> bool:
        return self.code and self.language.lower() in PYTHON_LANGUAGES


def notebook_json(cells: Sequence[Cell]) -> str:
    """A notebook (nbformat 4, a Python kernel) whose cells are ``cells``, in order."""
    out = []
    for cell in cells:
        if cell.analysed:
            out.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                        "source": cell.text})
        else:
            out.append({"cell_type": "markdown" if not cell.code else "raw", "metadata": {}, "source": cell.text})
    data = {"cells": out, "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass
class Placed:
    """A finding on a cell: ``finding`` has the cell's rows (its fix only when it maps cleanly)."""

    cell: int  # index into ``NotebookBuffer.cells``
    finding: Finding


class NotebookBuffer:
    def __init__(self, uri: str, path: str, version: Optional[int], cells: Sequence[Cell]):
        self.uri, self.path, self.version = uri, path, version
        self.cells: List[Cell] = list(cells)
        self.text = notebook_json(self.cells)
        try:
            self.notebook: Optional[Notebook] = Notebook(self.text)
        except NotebookError:  # not for a text we wrote; then nothing is placed
            self.notebook = None

    def cell_uris(self) -> List[str]:
        return [c.uri for c in self.cells]

    def masked_rows(self, index: int) -> Set[int]:
        if self.notebook is None:
            return set()
        for code in self.notebook.cells:
            if code.index == index:
                return set(code.magics)
        return set()

    def locate(self, row: int) -> Optional[Tuple[int, int]]:
        """(cell index, row in the cell) of a row of the code cells' concatenation."""
        if self.notebook is None or not self.notebook.cells:
            return None
        number, row_in_cell = self.notebook.locate(row)
        return number - 1, row_in_cell

    def place(self, f: Finding) -> Optional[Placed]:
        """``f`` (of this notebook, in the concatenation's rows unless it names its cell) on
        its cell; None when it names no cell of this notebook."""
        if self.notebook is None:
            return None
        if f.cell is not None:  # a skipped cell's DG000: already in the cell's rows
            index = f.cell - 1
            return Placed(index, f) if 0 <= index < len(self.cells) else None
        on_cell = self.notebook.to_cells(f)
        index = on_cell.cell - 1
        if not 0 <= index < len(self.cells):
            return None
        fix = f.fix
        if fix is not None and fix.edits:
            masked = self.masked_rows(index)
            for e in fix.edits:
                start, end = self.locate(e.line), self.locate(e.end_line)
                if start is None or end is None or start[0] != index or end[0] != index or \
                        any(r in masked for r in range(start[1], end[1] + 1)):
                    on_cell = replace(on_cell, fix=None)
                    break
        return Placed(index, on_cell)

    def cell_edits(self, new_text: str) -> List[Tuple[Cell, str]]:
        """(cell, its new text) for each cell that the notebook JSON ``new_text`` (this
        notebook with fixes applied) changes; empty when it is not this notebook's shape."""
        try:
            data = json.loads(new_text)
            cells = data["cells"]
        except (ValueError, KeyError, TypeError):
            return []
        if not isinstance(cells, list) or len(cells) != len(self.cells):
            return []
        out = []
        for cell, new in zip(self.cells, cells):
            source = new.get("source") if isinstance(new, dict) else None
            if isinstance(source, list):
                source = "".join(source)
            if isinstance(source, str) and source != cell.text:
                out.append((cell, source))
        return out


def by_cell(book: NotebookBuffer, findings: Sequence[Finding]) -> Dict[int, List[Finding]]:
    """The findings of ``book`` placed on its cells, by cell index."""
    out: Dict[int, List[Finding]] = {}
    for f in findings:
        placed = book.place(f)
        if placed is not None:
            out.setdefault(placed.cell, []).append(placed.finding)
    return out
