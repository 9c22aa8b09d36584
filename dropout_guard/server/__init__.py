"""The language server (``dropout-guard server``): diagnostics, quick fixes and fix-all
in editors, built on pygls (the ``lsp`` extra). ``projects.py`` owns what is linted and
with which settings, ``notebooks.py`` the cells of notebook documents, ``convert.py`` the
findings' LSP shapes, ``lsp.py`` the protocol."""
from __future__ import annotations

INSTALL_HINT = 'the language server needs pygls: pip install "dropout-guard[lsp]"'


def missing_dependency() -> str:
    """Why the server cannot start (empty when it can)."""
    import importlib.util

    for name in ("pygls", "lsprotocol"):
        if importlib.util.find_spec(name) is None:
            return INSTALL_HINT
    return ""


def main() -> None:
    from .lsp import serve

    serve()
