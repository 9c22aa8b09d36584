"""``dropout-guard server``: a language server (pygls) over standard input and output.

* Diagnostics for what is in the editor's buffers: on open and save at once, on change
  after a short debounce (``debounceMs``, default 50). The whole project of the changed
  file is linted (``projects.Projects``) with every open buffer read instead of the disk,
  and the diagnostics of each open file of that project are published, so a finding caused
  in another file appears and disappears with the edits there. Analyses run one at a time
  on a worker thread; a run is skipped when a later change has scheduled another.
* Each diagnostic has the rule code, ``codeDescription`` (the rule's documentation),
  ``source: "dropout-guard"``, the finding's range, and ``relatedInformation`` for every
  line its message names (possibly in another file).
* Code actions: the finding's fix (``quickfix``; safe ones preferred, unsafe ones titled
  so and offered unless unsafe fixes are switched off), "disable for this line" (a
  ``# noqa: DGxxx``), and ``source.fixAll.dropout-guard`` (the file's safe fixes; unsafe
  ones too when unsafe fixes are on), computed on ``codeAction/resolve`` when the client
  can resolve.
* Diagnostics are cleared when a file is closed, deleted or renamed. A change to a
  configuration file or ``.gitignore`` (``workspace/didChangeWatchedFiles``, registered
  dynamically when the client allows) reloads the settings; any other watched change
  re-lints the open projects. ``workspace/didChangeConfiguration`` replaces the client
  settings (see ``projects.ClientSettings``).
* Notebook documents (``notebookDocument/*``, all cells of every notebook synced; served
  for ``file:`` URIs of ``.ipynb`` notebooks): the cells' buffers make the notebook the
  project's lint reads instead of the file (``notebooks.NotebookBuffer``), so its code cells
  are one program exactly as ``check`` analyses it, in the project's context like a ``.py``
  buffer. Each finding is published on its cell's document URI with the range inside that
  cell (every code cell gets a publication, cleared when fixed; all are cleared when the
  notebook closes, and a removed cell's when it goes). On a cell: the quick fix when all its
  edits lie in that cell (``notebooks.NotebookBuffer.place``), "disable for this line"
  except on a masked IPython line, and fix-all of the whole notebook (also as
  ``notebook.source.fixAll.dropout-guard``), edits on every cell it changes. A notebook
  opened as a text file (its JSON) is linted like ``check`` lints it, but no diagnostics
  are published for it (their positions are cells', not the JSON's).
"""
from __future__ import annotations

import asyncio
import os
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from dropout_guard import __version__
from dropout_guard.lint.findings import Finding
from dropout_guard.lint.fixes import allowed

from . import convert
from .notebooks import Cell, NotebookBuffer, by_cell
from .projects import WATCHED_NAMES, ClientSettings, Projects, is_linted

FIX_ALL_KIND = f"{types.CodeActionKind.SourceFixAll.value}.dropout-guard"
NOTEBOOK_FIX_ALL_KIND = f"notebook.{FIX_ALL_KIND}"
NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[types.NotebookDocumentFilterWithNotebook(notebook="*")], save=True)


@dataclass
class Published:
    """What the diagnostics of one document were computed from."""

    version: Optional[int]
    text: str
    findings: List[Finding] = field(default_factory=list)
    diagnostics: List[types.Diagnostic] = field(default_factory=list)
    notebook: Optional[str] = None  # a cell's: the uri of its notebook
    masked: Set[int] = field(default_factory=set)  # a cell's rows the analysis saw as `pass` (IPython)
    fixable: List[Finding] = field(default_factory=list)  # what fix-all of the file would fix (a cell: the notebook's)


class DropoutGuardServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("dropout-guard", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         notebook_document_sync=NOTEBOOK_SYNC)
        self.projects = Projects()
        self.published: Dict[str, Published] = {}
        self._generation: Dict[str, int] = {}
        self._lock: Optional[asyncio.Lock] = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dropout-guard-lint")
        self._shown_errors: Dict[str, str] = {}
        self.gone: Set[str] = set()  # uris of open buffers whose file was deleted or renamed away, until edited
        self.cells_published: Dict[str, List[str]] = {}  # notebook uri -> the cell uris last published for it

    # -- documents ---------------------------------------------------------------------------
    def open_buffers(self) -> Dict[str, Tuple[str, types.TextDocumentItem]]:
        """Absolute path -> (uri, document) of the open files dropout-guard lints."""
        out = {}
        for uri, doc in list(self.workspace.text_documents.items()):
            if self.workspace.get_notebook_document(cell_uri=uri) is not None:
                continue  # a notebook's cell
            path = to_fs_path(uri) if uri.startswith("file:") else None
            if path and is_linted(path) and uri not in self.gone:
                out[os.path.abspath(path)] = (uri, doc)
        return out

    def text_document(self, uri: str):
        """The open text document (a file's buffer or a notebook cell), None if not open."""
        return self.workspace.text_documents.get(unquote(uri))

    def open_notebooks(self) -> Dict[str, NotebookBuffer]:
        """Absolute path -> a snapshot of each open notebook document served (``file:`` .ipynb)."""
        out = {}
        for nb in list(self.workspace.notebook_documents.values()):
            book = self.notebook_buffer(nb)
            if book is not None and nb.uri not in self.gone:
                out[book.path] = book
        return out

    def notebook_buffer(self, nb: types.NotebookDocument) -> Optional[NotebookBuffer]:
        path = to_fs_path(nb.uri) if nb.uri.startswith("file:") else None
        if not path or not path.endswith(".ipynb"):
            return None
        cells = []
        for cell in nb.cells:
            doc = self.text_document(cell.document)
            if doc is None:
                return None  # the notebook names a cell it did not open: wait for the next change
            cells.append(Cell(cell.document, cell.kind == types.NotebookCellKind.Code, doc.language_id or "",
                              doc.version, doc.source))
        return NotebookBuffer(nb.uri, os.path.abspath(path), nb.version, cells)

    def schedule(self, path: str, delay: float) -> None:
        self.schedule_root(self.projects.root_of(path), delay)

    def schedule_root(self, root: str, delay: float) -> None:
        gen = self._generation.get(root, 0) + 1
        self._generation[root] = gen
        asyncio.ensure_future(self._lint_later(root, gen, delay))

    def schedule_open_projects(self) -> None:
        for root in sorted({self.projects.root_of(p) for p in [*self.open_buffers(), *self.open_notebooks()]}):
            self.schedule_root(root, 0)

    async def _lint_later(self, root: str, gen: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if self._generation.get(root) != gen:
            return  # a later change scheduled its own run
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._generation.get(root) != gen:
                return
            docs = {p: (uri, doc.version, doc.source) for p, (uri, doc) in self.open_buffers().items()
                    if self.projects.root_of(p) == root}
            books = {p: b for p, b in self.open_notebooks().items() if self.projects.root_of(p) == root}
            buffers = {p: text for p, (_, _, text) in docs.items()}
            buffers.update({p: b.text for p, b in books.items()})  # the cells' buffers, not the file
            try:
                result = await asyncio.get_running_loop().run_in_executor(self._executor, self.projects.lint,
                                                                          root, buffers)
            except Exception as exc:  # noqa: BLE001 - a bug must not take the server down
                self.report(f"dropout-guard failed on {root}: {type(exc).__name__}: {exc}",
                            traceback.format_exc())
                return
            self._config_message(root)
            by_path: Dict[str, List[Finding]] = {}
            for f in result.findings:
                by_path.setdefault(f.abspath, []).append(f)
            current = self.open_buffers()
            place = _placer(books)
            for path, (uri, version, text) in docs.items():
                if uri not in {u for u, _ in current.values()}:
                    continue  # closed meanwhile
                findings = by_path.get(path, []) if not path.endswith(".ipynb") else []
                self.publish(uri, version, text, findings, result.sources, place)
            for path, book in books.items():
                if self.workspace.get_notebook_document(notebook_uri=book.uri) is None:
                    continue  # closed meanwhile
                self.publish_notebook(book, by_path.get(path, []), result.sources, place)

    def publish(self, uri: str, version: Optional[int], text: str, findings: List[Finding],
                sources, place=None, **state) -> None:
        lines = convert.split_lines(text)
        codec = self.workspace.position_codec
        diagnostics = [convert.diagnostic(f, codec, lines, sources, from_fs_path, place) for f in findings]
        state.setdefault("fixable", findings)
        self.published[uri] = Published(version, text, findings, diagnostics, **state)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    def publish_notebook(self, book: NotebookBuffer, findings: List[Finding], sources, place) -> None:
        """The diagnostics of every code cell of ``book`` (each in its cell's rows); the
        cells published before and gone from the notebook are cleared."""
        placed = by_cell(book, findings)
        for i, cell in enumerate(book.cells):
            if cell.code:
                self.publish(cell.uri, cell.version, cell.text, placed.get(i, []), sources, place,
                             notebook=book.uri, masked=book.masked_rows(i), fixable=findings)
        for uri in set(self.cells_published.get(book.uri, [])) - set(book.cell_uris()):
            self.clear(uri)
        self.cells_published[book.uri] = [c.uri for c in book.cells if c.code]

    def clear_notebook(self, notebook_uri: str, cell_uris=()) -> None:
        for uri in {*self.cells_published.pop(notebook_uri, []), *cell_uris}:
            self.clear(uri)

    def clear(self, uri: str) -> None:
        self.published.pop(uri, None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def report(self, message: str, details: str = "") -> None:
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Error,
                                                       message=f"{message}\n{details}".rstrip()))
        if self._shown_errors.get("internal") != message:
            self._shown_errors["internal"] = message
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=message))

    def _config_message(self, root: str) -> None:
        error = self.projects.errors.get(root)
        if error is not None and self._shown_errors.get(root) != error:
            self.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"dropout-guard: {error} (linting {root} with the default settings)"))
        if error is None:
            self._shown_errors.pop(root, None)
        else:
            self._shown_errors[root] = error

    def forget(self, uri: str) -> None:
        """A file deleted or renamed away: its diagnostics go (an open buffer of it is not
        linted again until it is edited); the projects are linted again."""
        if uri in self.workspace.text_documents:
            self.gone.add(uri)
        if uri in self.published or uri in self.workspace.text_documents:
            self.clear(uri)
        if self.workspace.get_notebook_document(notebook_uri=uri) is not None:
            self.gone.add(uri)
            self.clear_notebook(uri)

    # -- code actions ------------------------------------------------------------------------
    def code_actions(self, params: types.CodeActionParams) -> List[types.CodeAction]:
        uri = params.text_document.uri
        state = self.published.get(uri)
        doc = self.text_document(uri)
        only = params.context.only
        want = (lambda kind: not only or any(kind == k or kind.startswith(f"{k}.") for k in only))
        if state is None and doc is not None and only:
            return self._cell_fix_all(uri, doc.version, want)  # a markdown cell asked for the notebook's
        if state is None or doc is None or doc.version != state.version or doc.source != state.text:
            return []  # the findings are of an older text; new ones are on their way
        lines = convert.split_lines(state.text)
        codec = self.workspace.position_codec
        path = os.path.abspath(to_fs_path(state.notebook or uri) or "")
        unsafe_setting = self.projects.unsafe(self.projects.root_of(path))
        actions: List[types.CodeAction] = []
        wanted = params.range
        for f, diag in zip(state.findings, state.diagnostics):
            if (diag.range.start.line, diag.range.start.character) > (wanted.end.line, wanted.end.character) or \
                    (wanted.start.line, wanted.start.character) > (diag.range.end.line, diag.range.end.character):
                continue
            fix = f.fix
            if want(types.CodeActionKind.QuickFix.value) and fix is not None and fix.edits \
                    and allowed(fix, unsafe_setting is not False):
                safe = fix.applicability == "safe"
                title = f"dropout-guard ({f.code}): {fix.message}" + ("" if safe else " (unsafe fix)")
                actions.append(types.CodeAction(
                    title=title, kind=types.CodeActionKind.QuickFix, diagnostics=[diag], is_preferred=safe,
                    edit=self._edit(uri, state.version, convert.text_edits(fix.edits, codec, lines))))
            if want(types.CodeActionKind.QuickFix.value) and f.code != "DG000" and f.line not in state.masked:
                edit = convert.noqa_edit(f, state.text, codec, lines)
                if edit is not None:
                    actions.append(types.CodeAction(
                        title=f"dropout-guard ({f.code}): Disable for this line", kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diag], edit=self._edit(uri, state.version, [edit])))
        actions.extend(self._fix_all(uri, state.version, state.fixable, state.notebook is not None,
                                     bool(unsafe_setting), want))
        return actions

    def _fix_all(self, uri: str, version: Optional[int], fixable: List[Finding], notebook: bool, unsafe: bool,
                 want) -> List[types.CodeAction]:
        if not any(allowed(f.fix, unsafe) for f in fixable):
            return []
        title = "dropout-guard: Fix all fixable problems" if unsafe else "dropout-guard: Fix all safe fixes"
        if notebook:
            title += " of the notebook"
        kinds = [FIX_ALL_KIND] + ([NOTEBOOK_FIX_ALL_KIND] if notebook else [])
        return [types.CodeAction(title=title, kind=kind, data={"uri": uri, "version": version})
                for kind in kinds if want(kind)]

    def _cell_fix_all(self, uri: str, version: Optional[int], want) -> List[types.CodeAction]:
        """The notebook's fix-all asked on a cell without diagnostics of its own (a markdown
        cell: VS Code asks the notebook's first cell for ``notebook.source.fixAll``), when the
        diagnostics of every code cell are of its current text."""
        nb = self.workspace.get_notebook_document(cell_uri=uri)
        book = self.notebook_buffer(nb) if nb is not None else None
        if book is None:
            return []
        states = []
        for cell in book.cells:
            state = self.published.get(cell.uri)
            if cell.code and (state is None or state.version != cell.version or state.text != cell.text):
                return []
            if cell.code:
                states.append(state)
        if not states:
            return []
        unsafe = bool(self.projects.unsafe(self.projects.root_of(book.path)))
        return self._fix_all(uri, version, states[0].fixable, True, unsafe, want)

    def _edit(self, uri: str, version: Optional[int], edits: List[types.TextEdit]) -> types.WorkspaceEdit:
        return self._edits([(uri, version, edits)])

    def _edits(self, changes: List[Tuple[str, Optional[int], List[types.TextEdit]]]) -> types.WorkspaceEdit:
        """One workspace edit of several documents: (uri, version, edits) each."""
        caps = self.client_capabilities
        versioned = caps is not None and caps.workspace is not None and caps.workspace.workspace_edit is not None \
            and caps.workspace.workspace_edit.document_changes
        if versioned:
            return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                edits=edits) for uri, version, edits in changes])
        return types.WorkspaceEdit(changes={uri: edits for uri, _, edits in changes})

    def can_resolve(self) -> bool:
        caps = self.client_capabilities
        try:
            support = caps.text_document.code_action.resolve_support
        except AttributeError:
            return False
        return support is not None and "edit" in (support.properties or [])

    async def resolve_fix_all(self, action: types.CodeAction) -> types.CodeAction:
        data = action.data if isinstance(action.data, dict) else {}
        uri = data.get("uri")
        doc = self.text_document(uri) if uri else None
        if doc is None or doc.version != data.get("version"):
            return action  # the document changed or closed: nothing to apply
        nb = self.workspace.get_notebook_document(cell_uri=uri)
        book = self.notebook_buffer(nb) if nb is not None else None
        if nb is not None and book is None:
            return action  # a notebook not served
        path = book.path if book is not None else os.path.abspath(to_fs_path(uri) or "")
        root = self.projects.root_of(path)
        text = book.text if book is not None else doc.source
        buffers = {p: d.source for p, (_, d) in self.open_buffers().items() if self.projects.root_of(p) == root}
        buffers.update({p: b.text for p, b in self.open_notebooks().items() if self.projects.root_of(p) == root})
        buffers[path] = text
        new = await asyncio.get_running_loop().run_in_executor(self._executor, self.projects.fix_all, root, path,
                                                               buffers)
        if new is None or new == text:
            return action
        if book is not None:
            changes = [(cell.uri, cell.version, [convert.whole_text_edit(cell.text, source)])
                       for cell, source in book.cell_edits(new)]
            if changes:
                action.edit = self._edits(changes)
        else:
            action.edit = self._edit(uri, doc.version, [convert.whole_text_edit(text, new)])
        return action


def build_server() -> DropoutGuardServer:
    server = DropoutGuardServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: DropoutGuardServer, params: types.InitializeParams) -> None:
        ls.projects.client = ClientSettings.from_lsp(params.initialization_options)
        folders = [f.uri for f in params.workspace_folders or []] or ([params.root_uri] if params.root_uri else [])
        ls.projects.folders = [os.path.abspath(p) for p in (to_fs_path(u) for u in folders) if p]

    @server.feature(types.INITIALIZED)
    async def initialized(ls: DropoutGuardServer, params: types.InitializedParams) -> None:
        caps = ls.client_capabilities
        try:
            dynamic = caps.workspace.did_change_watched_files.dynamic_registration
        except AttributeError:
            dynamic = False
        if not dynamic:
            return
        globs = [f"**/{name}" for name in sorted(WATCHED_NAMES)] + ["**/*.py", "**/*.pyi", "**/*.ipynb"]
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern=g) for g in globs])
        try:
            await ls.client_register_capability_async(types.RegistrationParams(registrations=[types.Registration(
                id="dropout-guard-watched-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=options)]))
        except Exception as exc:  # noqa: BLE001 - the client refused: configuration is read at start only
            ls.window_log_message(types.LogMessageParams(type=types.MessageType.Warning,
                                                         message=f"cannot watch configuration files: {exc}"))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DropoutGuardServer, params: types.DidOpenTextDocumentParams) -> None:
        _on_document(ls, params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DropoutGuardServer, params: types.DidChangeTextDocumentParams) -> None:
        _on_document(ls, params.text_document.uri, ls.projects.client.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: DropoutGuardServer, params: types.DidSaveTextDocumentParams) -> None:
        _on_document(ls, params.text_document.uri, 0)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_did_open(ls: DropoutGuardServer, params: types.DidOpenNotebookDocumentParams) -> None:
        _on_notebook(ls, params.notebook_document.uri, 0)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_did_change(ls: DropoutGuardServer, params: types.DidChangeNotebookDocumentParams) -> None:
        _on_notebook(ls, params.notebook_document.uri, ls.projects.client.debounce)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_did_save(ls: DropoutGuardServer, params: types.DidSaveNotebookDocumentParams) -> None:
        _on_notebook(ls, params.notebook_document.uri, 0)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_did_close(ls: DropoutGuardServer, params: types.DidCloseNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        ls.gone.discard(uri)
        ls.clear_notebook(uri, [c.uri for c in params.cell_text_documents])
        path = to_fs_path(uri) if uri.startswith("file:") else None
        if path and path.endswith(".ipynb"):
            ls.schedule(os.path.abspath(path), 0)  # the other open files now see the file on disk

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DropoutGuardServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.gone.discard(uri)
        ls.clear(uri)
        path = to_fs_path(uri) if uri.startswith("file:") else None
        if path and is_linted(path):
            ls.schedule(os.path.abspath(path), 0)  # the other open files now see the file on disk

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: DropoutGuardServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            path = to_fs_path(change.uri) or ""
            if os.path.basename(path) in WATCHED_NAMES:
                ls.projects.invalidate()
            if change.type == types.FileChangeType.Deleted:
                ls.forget(change.uri)
        ls.schedule_open_projects()

    file_filters = types.FileOperationRegistrationOptions(filters=[types.FileOperationFilter(
        pattern=types.FileOperationPattern(glob="**/*.{py,pyi,ipynb}"))])

    @server.feature(types.WORKSPACE_DID_DELETE_FILES, file_filters)
    def did_delete_files(ls: DropoutGuardServer, params: types.DeleteFilesParams) -> None:
        for f in params.files:
            ls.forget(f.uri)
        ls.schedule_open_projects()

    @server.feature(types.WORKSPACE_DID_RENAME_FILES, file_filters)
    def did_rename_files(ls: DropoutGuardServer, params: types.RenameFilesParams) -> None:
        for f in params.files:
            ls.forget(f.old_uri)
        ls.schedule_open_projects()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: DropoutGuardServer, params: types.DidChangeConfigurationParams) -> None:
        if isinstance(params.settings, dict):
            ls.projects.client = ClientSettings.from_lsp(params.settings)
        ls.projects.invalidate()
        ls.schedule_open_projects()

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL_KIND, NOTEBOOK_FIX_ALL_KIND], resolve_provider=True))
    async def code_action(ls: DropoutGuardServer, params: types.CodeActionParams):
        actions = ls.code_actions(params)
        only = params.context.only or []
        fix_all = types.CodeActionKind.SourceFixAll.value
        eager = not ls.can_resolve() or any(k.startswith((fix_all, f"notebook.{fix_all}")) for k in only)
        for i, action in enumerate(actions):
            if action.kind in (FIX_ALL_KIND, NOTEBOOK_FIX_ALL_KIND) and eager:
                actions[i] = await ls.resolve_fix_all(action)
        return actions

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(ls: DropoutGuardServer, action: types.CodeAction) -> types.CodeAction:
        if action.kind in (FIX_ALL_KIND, NOTEBOOK_FIX_ALL_KIND) and action.edit is None:
            return await ls.resolve_fix_all(action)
        return action

    return server


def _on_document(ls: DropoutGuardServer, uri: str, delay: float) -> None:
    ls.gone.discard(uri)
    path = to_fs_path(uri) if uri.startswith("file:") else None
    if path and is_linted(path):
        ls.schedule(os.path.abspath(path), delay)


def _on_notebook(ls: DropoutGuardServer, uri: str, delay: float) -> None:
    ls.gone.discard(uri)
    path = to_fs_path(uri) if uri.startswith("file:") else None
    if path and path.endswith(".ipynb"):
        ls.schedule(os.path.abspath(path), delay)


def _placer(books: Dict[str, NotebookBuffer]):
    """For related information: (path, row) of a notebook open as a notebook document ->
    (its cell's uri, that cell's lines, the row in the cell); None for any other line."""
    def place(path: str, row: int):
        book = books.get(path)
        where = book.locate(row) if book is not None else None
        if where is None or not 0 <= where[0] < len(book.cells):
            return None
        cell = book.cells[where[0]]
        return cell.uri, convert.split_lines(cell.text), where[1]
    return place


def serve() -> None:
    """Run the server on standard input and output until the client exits it."""
    build_server().start_io()
