"""``dropout-guard server`` end to end: pytest-lsp starts it as a subprocess and drives it
over standard input and output as an editor would."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types  # noqa: E402
from pygls.protocol import default_converter  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

from programs import BLOCK, LOOP, TRAIN  # noqa: E402

# A guard against a hang, not a measure: far beyond what a slow machine needs.
PATIENCE = 300


TRAIN_FIXED = TRAIN.replace("        train_one_epoch(model, loader, opt)\n",
                            "        model.train()\n        train_one_epoch(model, loader, opt)\n")


def make_client() -> LanguageClient:
    """pytest-lsp's client, keeping also the version each publication of diagnostics was for
    and the list of all publications."""
    from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

    client = LanguageClient(converter_factory=default_converter)
    features = dict(DEFAULT_CLIENT_FEATURES)
    del features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]
    register_lsp_features(client, features)
    client.published_versions = {}
    client.publications = []  # every publication, in the order received

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published_versions[params.uri] = params.version
        client.publications.append(params)

    client.registrations = []

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)

    return client


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "dropout_guard", "server"],
                                              client_factory=make_client))
async def client(lsp_client: LanguageClient):
    yield
    server = lsp_client._server
    if server is not None and server.returncode is None:  # a test failed before the shutdown
        server.kill()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.dropout-guard]\n")
    (tmp_path / "loop.py").write_text(LOOP)
    (tmp_path / "train.py").write_text(TRAIN_FIXED)  # the buffer, not the disk, is linted
    (tmp_path / "block.py").write_text(BLOCK)
    return tmp_path


async def start(client: LanguageClient, root: Path, options=None) -> None:
    caps = pytest_lsp.client_capabilities("visual-studio-code")
    await client.initialize_session(types.InitializeParams(
        capabilities=caps, root_uri=root.as_uri(), initialization_options=options,
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="project")]))


def uri(path: Path) -> str:
    return path.as_uri()


class Doc:
    """An open buffer on the client's side."""

    def __init__(self, client: LanguageClient, path: Path, text: str):
        self.client, self.uri, self.text, self.version = client, uri(path), text, 1
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=self.uri, language_id="python", version=1, text=text)))

    def replace(self, text: str) -> None:
        self.version += 1
        self.text = text
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))

    async def diagnostics(self):
        """The diagnostics the server publishes for this version of the buffer."""
        async def wait():
            while self.client.published_versions.get(self.uri) != self.version:
                await self.client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            return list(self.client.diagnostics[self.uri])
        return await asyncio.wait_for(wait(), PATIENCE)


def apply_edits(text: str, edits) -> str:
    """The text with LSP edits applied (positions in UTF-16 units; ASCII here)."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(pos: types.Position) -> int:
        return starts[min(pos.line, len(lines))] + pos.character

    for e in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[:offset(e.range.start)] + e.new_text + text[offset(e.range.end):]
    return text


def edits_of(action: types.CodeAction, doc_uri: str):
    edit = action.edit
    if edit.document_changes:
        return [e for change in edit.document_changes if change.text_document.uri == doc_uri for e in change.edits]
    return edit.changes[doc_uri]


@pytest.mark.asyncio
async def test_buffer_diagnostic_with_related_information_in_another_file(client: LanguageClient, project: Path):
    await start(client, project)
    doc = Doc(client, project / "train.py", TRAIN)
    diags = await doc.diagnostics()
    assert [d.code for d in diags] == ["DG102"]
    d = diags[0]
    assert d.source == "dropout-guard"
    assert d.code_description is not None and d.code_description.href
    assert d.severity == types.DiagnosticSeverity.Warning
    assert (d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character) == (10, 8, 10, 43)
    related = {(r.location.uri, r.location.range.start.line) for r in d.related_information}
    assert (uri(project / "loop.py"), 6) in related  # `train_one_epoch`'s training step, in the other file
    assert (doc.uri, 11) in related  # the call that switched the model to eval
    doc.replace(TRAIN_FIXED)
    assert await doc.diagnostics() == []
    doc.replace(TRAIN)
    assert [d.code for d in await doc.diagnostics()] == ["DG102"]
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=doc.uri)))
    while client.diagnostics.get(doc.uri):
        await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), PATIENCE)
    await client.shutdown_session()


@pytest.mark.asyncio
async def test_an_edit_in_another_open_buffer_changes_the_finding(client: LanguageClient, project: Path):
    await start(client, project)
    train = Doc(client, project / "train.py", TRAIN)
    assert [d.code for d in await train.diagnostics()] == ["DG102"]
    loop = Doc(client, project / "loop.py", LOOP)
    assert await loop.diagnostics() == []
    # evaluate() now switches the model back to training: the finding in train.py goes
    loop.replace(LOOP + "    model.train()\n")
    await loop.diagnostics()
    while client.diagnostics.get(train.uri):
        await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), PATIENCE)
    await client.shutdown_session()


@pytest.mark.asyncio
async def test_quick_fixes_and_fix_all(client: LanguageClient, project: Path):
    await start(client, project)
    doc = Doc(client, project / "train.py", TRAIN)
    [d] = await doc.diagnostics()
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=doc.uri), range=d.range,
        context=types.CodeActionContext(diagnostics=[d])))
    titles = [a.title for a in actions]
    fix = next(a for a in actions if a.kind == types.CodeActionKind.QuickFix and "unsafe" in a.title)
    assert not fix.is_preferred  # DG102's fix changes what runs: offered, not preferred
    noqa = next(a for a in actions if "Disable for this line" in a.title)
    assert not any(a.kind and a.kind.startswith("source.fixAll") for a in actions), titles  # no safe fix here
    doc.replace(apply_edits(doc.text, edits_of(fix, doc.uri)))
    assert "model.train()" in doc.text
    assert await doc.diagnostics() == []
    doc.replace(TRAIN)
    await doc.diagnostics()
    doc.replace(apply_edits(doc.text, edits_of(noqa, doc.uri)))
    assert "# noqa: DG102" in doc.text
    assert await doc.diagnostics() == []

    block = Doc(client, project / "block.py", BLOCK)
    [d] = await block.diagnostics()
    assert d.code == "DG301"
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=block.uri), range=d.range,
        context=types.CodeActionContext(diagnostics=[d])))
    fix = next(a for a in actions if a.kind == types.CodeActionKind.QuickFix and "Disable" not in a.title)
    assert fix.is_preferred and "unsafe" not in fix.title
    fix_all = next(a for a in actions if a.kind == "source.fixAll.dropout-guard")
    if fix_all.edit is None:
        fix_all = await client.code_action_resolve_async(fix_all)
    block.replace(apply_edits(block.text, edits_of(fix_all, block.uri)))
    assert "training=self.training" in block.text or "self.training" in block.text
    assert await block.diagnostics() == []
    # asked for the source action only (as on save), it comes with its edit
    block.replace(BLOCK)
    await block.diagnostics()
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=block.uri), range=types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[], only=["source.fixAll"])))
    assert [a.kind for a in actions] == ["source.fixAll.dropout-guard"] and actions[0].edit is not None
    await client.shutdown_session()


@pytest.mark.asyncio
async def test_configuration_changes_reselect_rules(client: LanguageClient, project: Path):
    await start(client, project)
    doc = Doc(client, project / "train.py", TRAIN)
    assert [d.code for d in await doc.diagnostics()] == ["DG102"]
    (project / "pyproject.toml").write_text('[tool.dropout-guard]\nignore = ["DG102"]\n')
    # the server asked to be told of changes to configuration files
    [watch] = [r for r in client.registrations if r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES]
    assert "**/pyproject.toml" in [w["globPattern"] for w in watch.register_options["watchers"]]
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[types.FileEvent(
        uri=uri(project / "pyproject.toml"), type=types.FileChangeType.Changed)]))
    await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), PATIENCE)
    assert list(client.diagnostics[doc.uri]) == []
    # the editor's settings override the file, as the command line does
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"dropout-guard": {"select": ["DG102"]}}))
    await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), PATIENCE)
    assert [d.code for d in client.diagnostics[doc.uri]] == ["DG102"]
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"dropout-guard": {"select": ["DG2"]}}))
    await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), PATIENCE)
    assert list(client.diagnostics[doc.uri]) == []
    await client.shutdown_session()


@pytest.mark.asyncio
async def test_a_broken_buffer_gives_one_diagnostic_and_the_server_goes_on(client: LanguageClient, project: Path):
    await start(client, project)
    doc = Doc(client, project / "train.py", TRAIN)
    await doc.diagnostics()
    doc.replace(TRAIN.replace("for epoch in range(3):", "for epoch in range(3:"))
    [d] = await doc.diagnostics()
    assert d.code == "DG000" and d.severity == types.DiagnosticSeverity.Error and "SyntaxError" in d.message
    assert d.range.start.line == 9
    doc.replace(TRAIN)
    assert [d.code for d in await doc.diagnostics()] == ["DG102"]
    # a new file that is not on disk yet is linted from its buffer
    new = Doc(client, project / "scratch.py", "def f(:\n")
    assert [d.code for d in await new.diagnostics()] == ["DG000"]
    await client.shutdown_session()


@pytest.mark.asyncio
async def test_deleting_a_file_clears_its_diagnostics(client: LanguageClient, project: Path):
    await start(client, project)
    doc = Doc(client, project / "block.py", BLOCK)
    assert [d.code for d in await doc.diagnostics()] == ["DG301"]
    (project / "block.py").unlink()
    client.workspace_did_delete_files(types.DeleteFilesParams(files=[types.FileDelete(uri=doc.uri)]))
    while client.diagnostics.get(doc.uri):
        await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), PATIENCE)
    # the projects are linted again; the deleted file's buffer, still open, gets nothing back
    other = Doc(client, project / "train.py", TRAIN)
    assert [d.code for d in await other.diagnostics()] == ["DG102"]
    assert list(client.diagnostics[doc.uri]) == []
    # until it is edited (an unsaved file now)
    doc.replace(BLOCK + "\n")
    assert [d.code for d in await doc.diagnostics()] == ["DG301"]
    await client.shutdown_session()


@pytest.mark.asyncio
async def test_shutdown_and_exit_end_the_process_with_0(client: LanguageClient, project: Path):
    await start(client, project)
    await client.shutdown_session()
    assert client._server.returncode == 0


def test_without_pygls_the_command_says_how_to_install_it():
    code = ("import sys; sys.modules['pygls'] = sys.modules['lsprotocol'] = None; "
            "from dropout_guard.cli import main; main(['server'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ['Error: the language server needs pygls: pip install '
                                                '"dropout-guard[lsp]"']


@pytest.mark.asyncio
async def test_initialization_options_select_the_rules(client: LanguageClient, project: Path):
    await start(client, project, options={"dropout-guard": {"ignore": "DG102", "debounceMs": 0}})
    train = Doc(client, project / "train.py", TRAIN)
    block = Doc(client, project / "block.py", BLOCK)
    assert [d.code for d in await block.diagnostics()] == ["DG301"]
    assert await train.diagnostics() == []
    await client.shutdown_session()


@pytest.mark.asyncio
async def test_changes_are_debounced_and_a_save_lints_at_once(client: LanguageClient, project: Path):
    """A change is linted only once ``debounceMs`` has passed without another (the other
    tests run with the default 50 ms). With a debounce far beyond any test, the changes are
    never linted by themselves: the save lints the latest text at once, and no version in
    between is ever published (an order of events, not a measure of time)."""
    await start(client, project, options={"dropout-guard": {"debounceMs": 10 ** 9}})
    doc = Doc(client, project / "train.py", TRAIN)
    assert [d.code for d in await doc.diagnostics()] == ["DG102"]  # on open: at once
    mark = len(client.publications)
    doc.replace(TRAIN_FIXED)
    doc.replace(TRAIN)
    doc.replace(TRAIN_FIXED)
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=doc.uri)))
    assert await doc.diagnostics() == []
    assert [p.version for p in client.publications[mark:] if p.uri == doc.uri] == [4]
    await client.shutdown_session()
    assert client._server.returncode == 0  # the waiting changes do not hold the exit up
