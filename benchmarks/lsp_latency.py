"""Language server latency: from ``textDocument/didChange`` to the ``publishDiagnostics`` of
that version (figures, not a test).

    python benchmarks/lsp_latency.py [--project DIR --file REL] [--edits N] [--debounce-ms MS]

Without ``--project``: a small project (two files: a training loop and its helpers, the
README's cross-file DG102) and, when the corpora of ``real_corpora.py`` are downloaded
(~/.cache/dropout-guard-corpora/real_corpora), a large one: timm 1.0.31 (~200 files, one
package whose files import each other) with an edit in ``timm/models/resnet.py``. The
project is copied to a temporary folder first (the server keeps its results cache there).

The server runs as editors run it (``python -m dropout_guard server``, over pipes). The file
is opened, then edited ``--edits`` times (a comment line changes at its end, alternately
with and without a bug-fixing line for the small project) after three warm-up edits; the
median and the worst latency are printed. The default debounce (50 ms) is part of the
latency; ``--debounce-ms 0`` shows the analysis alone.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

CORPUS = Path.home() / ".cache" / "dropout-guard-corpora" / "real_corpora" / "timm-1.0.31"

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from programs import LOOP, TRAIN  # noqa: E402  (the small project of the server's tests)


async def measure(root: Path, rel: str, edits: int, debounce_ms: float | None) -> list:
    published: dict = {}
    arrived = asyncio.Event()

    def factory() -> LanguageClient:
        client = LanguageClient(converter_factory=default_converter)

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_publish(params: types.PublishDiagnosticsParams) -> None:
            published[params.uri] = (params.version, time.perf_counter(), len(params.diagnostics))
            arrived.set()

        @client.feature(types.CLIENT_REGISTER_CAPABILITY)
        def register(params: types.RegistrationParams) -> None:
            return None

        return client

    client = await ClientServerConfig(server_command=[sys.executable, "-m", "dropout_guard", "server"],
                                      client_factory=factory).start()

    options = {"dropout-guard": {"debounceMs": debounce_ms}} if debounce_ms is not None else None
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=root.as_uri(),
        initialization_options=options, workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="p")]))
    path = root / rel
    uri = path.as_uri()
    text = path.read_text(encoding="utf-8")
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=text)))

    async def until(version: int) -> float:
        while published.get(uri, (None,))[0] != version:
            arrived.clear()
            await arrived.wait()
        return published[uri][1]

    await until(1)
    latencies = []
    for n in range(2, edits + 5):
        new = text + f"# edit {n}\n"
        if rel == "train.py" and n % 2:
            new = new.replace("        evaluate(model, loader)\n", "        evaluate(model, loader)\n        model.train()\n")
        sent = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=n),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=new)]))
        done = await until(n)
        if n >= 5:  # three warm-up edits
            latencies.append(done - sent)
    await client.shutdown_session()
    await client.stop()
    return latencies


def report(name: str, files: int, latencies: list) -> None:
    print(f"{name:<28} {files:>5} files  median {statistics.median(latencies) * 1000:7.1f} ms  "
          f"worst {max(latencies) * 1000:7.1f} ms  ({len(latencies)} edits)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path)
    parser.add_argument("--file")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--debounce-ms", type=float, default=None)
    args = parser.parse_args()
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.project is not None:
            cases.append((args.project.name, args.project, args.file))
        else:
            small = Path(tmp) / "small"
            small.mkdir()
            (small / "loop.py").write_text(LOOP)
            (small / "train.py").write_text(TRAIN)
            cases.append(("small (2 files)", small, "train.py"))
            if CORPUS.is_dir():
                large = Path(tmp) / "timm"
                shutil.copytree(CORPUS, large)
                cases.append(("large (timm)", large, "timm/models/resnet.py"))
            else:
                print(f"(no large project: {CORPUS} is missing; run benchmarks/real_corpora.py first)")
        for name, root, rel in cases:
            files = sum(1 for _ in root.rglob("*.py"))
            report(name, files, asyncio.run(measure(root, rel, args.edits, args.debounce_ms)))


if __name__ == "__main__":
    main()
