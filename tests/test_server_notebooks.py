"""``dropout-guard server`` with notebook documents (``notebookDocument/*``, as VS Code sends
them): pytest-lsp drives the server end to end; ``NotebookBuffer.place`` is also tested
alone for the fixes that cannot be mapped onto one cell."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types  # noqa: E402
from pytest_lsp import LanguageClient  # noqa: E402

from programs import LOOP  # noqa: E402
from test_server import PATIENCE, apply_edits, client, edits_of  # noqa: E402,F401 - client: the fixture

from dropout_guard.lint.findings import Edit, Finding, Fix  # noqa: E402
from dropout_guard.server.notebooks import Cell, NotebookBuffer  # noqa: E402

IMPORTS = "%matplotlib inline\nimport torch\nfrom torch import nn\n\nfrom loop import evaluate, train_one_epoch\n"
SETUP = "model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1))\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n" \
    "loader = []\n"
EPOCHS = "for epoch in range(3):\n    train_one_epoch(model, loader, opt)\n    evaluate(model, loader)\n"
EPOCHS_FIXED = "for epoch in range(3):\n    model.train()\n    train_one_epoch(model, loader, opt)\n" \
    "    evaluate(model, loader)\n"
BLOCK = "import torch.nn.functional as F\n\n\nclass Block(nn.Module):\n    def forward(self, x):\n" \
    "        return F.dropout(x, p=0.1)\n"
# (kind, text): the markdown cell is cell 1 of the notebook, as `check` counts them
CELLS = [("markdown", "# Training\n"), ("code", IMPORTS), ("code", SETUP), ("code", EPOCHS), ("code", BLOCK)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.dropout-guard]\n")
    (tmp_path / "loop.py").write_text(LOOP)
    # on disk: the notebook with its bug fixed and no Block; the editor's cells are what is linted
    disk = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                       "source": IMPORTS + SETUP + EPOCHS_FIXED}],
            "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "nb.ipynb").write_text(json.dumps(disk))
    return tmp_path


async def start(client: LanguageClient, root: Path, options=None) -> types.InitializeResult:
    caps = pytest_lsp.client_capabilities("visual-studio-code")
    caps.notebook_document = types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities())
    return await client.initialize_session(types.InitializeParams(
        capabilities=caps, root_uri=root.as_uri(), initialization_options=options,
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="project")]))


class NotebookDoc:
    """An open notebook on the client's side, its cells named as VS Code names them."""

    def __init__(self, client: LanguageClient, path: Path, cells: List[Tuple[str, str]]):
        self.client, self.uri, self.version = client, path.as_uri(), 1
        self.cells = [[self.cell_uri(path, i), kind, text, 1] for i, (kind, text) in enumerate(cells)]
        self.mark = len(client.publications)
        client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=self.uri, notebook_type="jupyter-notebook", version=1,
                cells=[types.NotebookCell(kind=self.kind(kind), document=u) for u, kind, _, _ in self.cells]),
            cell_text_documents=[self.item(c) for c in self.cells]))

    @staticmethod
    def cell_uri(path: Path, i: int) -> str:
        return f"vscode-notebook-cell:{path.as_posix()}#W{i}sZmlsZQ%3D%3D"  # escaped, as VS Code sends it

    @staticmethod
    def kind(kind: str) -> types.NotebookCellKind:
        return types.NotebookCellKind.Code if kind == "code" else types.NotebookCellKind.Markup

    @staticmethod
    def item(cell) -> types.TextDocumentItem:
        uri, kind, text, version = cell
        return types.TextDocumentItem(uri=uri, language_id="python" if kind == "code" else "markdown",
                                      version=version, text=text)

    def code_uris(self) -> List[str]:
        return [u for u, kind, _, _ in self.cells if kind == "code"]

    def edit(self, i: int, text: str) -> None:
        """Replace the text of cell ``i`` (0-based, markdown cells counted)."""
        self.version += 1
        cell = self.cells[i]
        cell[2], cell[3] = text, cell[3] + 1
        self.mark = len(self.client.publications)
        self.client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=self.uri, version=self.version),
            change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[
                types.NotebookDocumentCellContentChanges(
                    document=types.VersionedTextDocumentIdentifier(uri=cell[0], version=cell[3]),
                    changes=[types.TextDocumentContentChangeWholeDocument(text=text)])]))))

    def remove(self, i: int) -> None:
        self.version += 1
        cell = self.cells.pop(i)
        self.mark = len(self.client.publications)
        self.client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=self.uri, version=self.version),
            change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(
                structure=types.NotebookDocumentCellChangeStructure(
                    array=types.NotebookCellArrayChange(start=i, delete_count=1, cells=[]),
                    did_close=[types.TextDocumentIdentifier(uri=cell[0])])))))
        self.removed = cell[0]

    def close(self) -> None:
        self.mark = len(self.client.publications)
        self.client.notebook_document_did_close(types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=self.uri),
            cell_text_documents=[types.TextDocumentIdentifier(uri=u) for u, _, _, _ in self.cells]))

    async def lint(self, done=None):
        """By cell uri, the diagnostics of the server's next run over this notebook's cells
        (since the last open or change): every code cell published, each for its version."""
        versions = {u: v for u, kind, _, v in self.cells if kind == "code"}

        def complete() -> Optional[dict]:
            seen = {}
            for p in self.client.publications[self.mark:]:
                if p.uri in versions and p.version == versions[p.uri]:
                    seen[p.uri] = list(p.diagnostics)
            return seen if len(seen) == len(versions) else None

        async def wait():
            while complete() is None or (done is not None and not done()):
                await self.client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            return complete()
        return await asyncio.wait_for(wait(), PATIENCE)

    async def cleared(self, uris) -> None:
        async def wait():
            while any(self.client.diagnostics.get(u) for u in uris) or \
                    not {u for u in uris} <= {p.uri for p in self.client.publications[self.mark:]}:
                await self.client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        await asyncio.wait_for(wait(), PATIENCE)


def rng(d: types.Diagnostic):
    return d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character


@pytest.mark.asyncio
async def test_findings_on_their_cells_cleared_when_fixed_and_closed(client: LanguageClient, project: Path):
    result = await start(client, project)
    assert result.capabilities.notebook_document_sync is not None
    nb = NotebookDoc(client, project / "nb.ipynb", CELLS)
    markdown, imports, setup, epochs, block = [u for u, _, _, _ in nb.cells]
    diags = await nb.lint()
    assert markdown not in diags and markdown not in client.diagnostics  # markdown cells: nothing
    assert diags[imports] == [] and diags[setup] == []  # `%matplotlib inline` is no syntax error
    [d102] = diags[epochs]
    assert d102.code == "DG102" and rng(d102) == (1, 4, 1, 39)  # the call, in the cell's own rows
    related = {(r.location.uri, r.location.range.start.line) for r in d102.related_information}
    assert (project.joinpath("loop.py").as_uri(), 6) in related  # the helper's training step, another file
    assert (epochs, 2) in related  # the `evaluate` call, on the cell
    [d301] = diags[block]
    assert d301.code == "DG301" and rng(d301) == (5, 15, 5, 34)

    nb.edit(3, EPOCHS_FIXED)
    diags = await nb.lint()
    assert diags[epochs] == [] and [d.code for d in diags[block]] == ["DG301"]
    nb.edit(3, EPOCHS)
    assert [d.code for d in (await nb.lint())[epochs]] == ["DG102"]
    # the model is defined in another cell: deleting that cell's text leaves nothing to find
    nb.edit(2, "loader = []\n")
    assert (await nb.lint())[epochs] == []
    nb.edit(2, SETUP)
    assert [d.code for d in (await nb.lint())[epochs]] == ["DG102"]

    nb.remove(4)  # the Block cell goes: its diagnostics with it
    await nb.cleared([block])
    nb.close()
    await nb.cleared([epochs])
    await client.shutdown_session()


@pytest.mark.asyncio
async def test_a_cell_that_is_not_python_is_one_diagnostic_on_that_cell(client: LanguageClient, project: Path):
    await start(client, project)
    nb = NotebookDoc(client, project / "nb.ipynb", CELLS)
    await nb.lint()
    epochs, block = nb.cells[3][0], nb.cells[4][0]
    nb.edit(4, BLOCK.replace("def forward(self, x):", "def forward(self, x:"))
    diags = await nb.lint()
    [d] = diags[block]
    assert d.code == "DG000" and "SyntaxError" in d.message and d.range.start.line == 4
    assert [d.code for d in diags[epochs]] == ["DG102"]  # the other cells are still analysed
    await client.shutdown_session()


@pytest.mark.asyncio
async def test_quick_fix_noqa_and_fix_all_on_cells(client: LanguageClient, project: Path):
    await start(client, project)
    nb = NotebookDoc(client, project / "nb.ipynb", CELLS)
    diags = await nb.lint()
    epochs, block = nb.cells[3][0], nb.cells[4][0]

    async def actions(uri, d, only=None):
        return await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=d.range,
            context=types.CodeActionContext(diagnostics=[d], only=only)))

    # the safe fix of DG301, inside its cell
    [d] = diags[block]
    fix = next(a for a in await actions(block, d) if a.kind == types.CodeActionKind.QuickFix and a.is_preferred)
    nb.edit(4, apply_edits(nb.cells[4][2], edits_of(fix, block)))
    assert "training=self.training" in nb.cells[4][2]
    assert (await nb.lint())[block] == []
    # "disable for this line" on the DG102 cell
    [d] = diags[epochs]
    found = await actions(epochs, d)
    noqa = next(a for a in found if "Disable for this line" in a.title)
    assert any("unsafe" in a.title for a in found)  # DG102's fix lies in its cell: offered
    nb.edit(3, apply_edits(nb.cells[3][2], edits_of(noqa, epochs)))
    assert "# noqa: DG102" in nb.cells[3][2]
    assert (await nb.lint())[epochs] == []

    # fix-all of the whole notebook, asked on a cell, edits the cells it changes
    nb.edit(4, BLOCK)
    [d] = (await nb.lint())[block]
    [fix_all] = await actions(block, d, only=["notebook.source.fixAll"])
    assert fix_all.kind == "notebook.source.fixAll.dropout-guard" and "notebook" in fix_all.title
    assert fix_all.edit is not None  # asked for the source action only: computed at once
    changed = [c.text_document.uri for c in fix_all.edit.document_changes]
    assert changed == [block]
    # asked on the notebook's first cell, a markdown one (as VS Code does on save): the same
    top = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
    [on_markdown] = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=nb.cells[0][0]), range=top,
        context=types.CodeActionContext(diagnostics=[], only=["notebook.source.fixAll"])))
    assert on_markdown.edit == fix_all.edit
    nb.edit(4, apply_edits(nb.cells[4][2], edits_of(fix_all, block)))
    assert (await nb.lint())[block] == []
    await client.shutdown_session()


# -- placing findings on cells, alone --------------------------------------------------------

def book(*texts: str) -> NotebookBuffer:
    cells = [Cell(f"cell:{i}", True, "python", 1, t) for i, t in enumerate(texts)]
    return NotebookBuffer("file:///nb.ipynb", "/nb.ipynb", 1, cells)


def finding(line: int, *edits: Edit) -> Finding:
    fix = Fix("safe", "fix it", tuple(edits)) if edits else None
    return Finding("DG301", "x", "m", "nb.ipynb", line, 1, line, 5, fix, abspath="/nb.ipynb")


def test_a_fix_within_its_cell_is_kept_on_the_cell():
    b = book("a = 1\nb = 2\n", "c = 3\nd = 4\n")
    placed = b.place(finding(4, Edit("x", 4, 1, 4, 2)))  # row 4: cell 2, row 2
    assert placed.cell == 1 and placed.finding.line == 2
    assert placed.finding.fix.edits == (Edit("x", 2, 1, 2, 2),)


def test_a_fix_that_edits_another_cell_is_not_offered_on_the_cell():
    b = book("a = 1\nb = 2\n", "c = 3\nd = 4\n")
    placed = b.place(finding(4, Edit("x", 4, 1, 4, 2), Edit("import torch\n", 1, 1, 1, 1)))
    assert placed.cell == 1 and placed.finding.line == 2 and placed.finding.fix is None


def test_a_fix_that_edits_a_masked_ipython_line_is_not_offered():
    b = book("a = 1\n!pip install torch\nb = 2\n")
    assert b.masked_rows(0) == {2}
    assert b.place(finding(3, Edit("x", 2, 1, 2, 5))).finding.fix is None
    assert b.place(finding(3, Edit("x", 3, 1, 3, 2))).finding.fix is not None


def test_markdown_and_other_languages_keep_the_numbering_and_are_not_analysed():
    cells = [Cell("m", False, "markdown", 1, "# x = (\n"), Cell("r", True, "r", 1, "x <- 1\n"),
             Cell("p", True, "python", 1, "y = 1\n")]
    b = NotebookBuffer("file:///nb.ipynb", "/nb.ipynb", 1, cells)
    assert [c.index for c in b.notebook.cells] == [2]
    assert b.place(finding(1)).cell == 2
    assert b.cell_edits(b.text.replace("y = 1", "y = 2")) == [(cells[2], "y = 2\n")]


@pytest.mark.asyncio
async def test_cell_changes_are_debounced_and_a_save_lints_at_once(client: LanguageClient, project: Path):
    """As for a file: with a debounce far beyond any test, cell edits are not linted by
    themselves; the notebook's save lints the latest cells at once (order, not time)."""
    await start(client, project, options={"dropout-guard": {"debounceMs": 10 ** 9}})
    nb = NotebookDoc(client, project / "nb.ipynb", CELLS)
    epochs = nb.cells[3][0]
    assert [d.code for d in (await nb.lint())[epochs]] == ["DG102"]
    nb.edit(3, EPOCHS_FIXED)
    mark = nb.mark
    nb.edit(3, EPOCHS)
    nb.edit(3, EPOCHS_FIXED)
    nb.mark = mark
    client.notebook_document_did_save(types.DidSaveNotebookDocumentParams(
        notebook_document=types.NotebookDocumentIdentifier(uri=nb.uri)))
    assert (await nb.lint())[epochs] == []
    assert [p.version for p in client.publications[mark:] if p.uri == epochs] == [4]
    await client.shutdown_session()


@pytest.mark.asyncio
async def test_deleting_the_notebook_clears_its_cells_until_they_are_edited(client: LanguageClient, project: Path):
    await start(client, project)
    nb = NotebookDoc(client, project / "nb.ipynb", CELLS)
    epochs = nb.cells[3][0]
    assert [d.code for d in (await nb.lint())[epochs]] == ["DG102"]
    (project / "nb.ipynb").unlink()
    nb.mark = len(client.publications)
    client.workspace_did_delete_files(types.DeleteFilesParams(files=[types.FileDelete(uri=nb.uri)]))
    await nb.cleared([epochs, nb.cells[4][0]])
    nb.edit(3, EPOCHS + "\n")  # an unsaved notebook now: linted from its cells
    assert [d.code for d in (await nb.lint())[epochs]] == ["DG102"]
    await client.shutdown_session()
