"""The rule registry: every rule family module exposes ``RULES``."""
from __future__ import annotations

from typing import Dict, List, Type

from .base import Rule
from . import errors, modes, grad, dropout, keras, handwritten

_FAMILIES = (errors, modes, grad, dropout, keras, handwritten)

ALL_RULES: List[Type[Rule]] = sorted((r for fam in _FAMILIES for r in fam.RULES), key=lambda r: r.code)
RULES_BY_CODE: Dict[str, Type[Rule]] = {r.code: r for r in ALL_RULES}
RULES_BY_NAME: Dict[str, Type[Rule]] = {r.name: r for r in ALL_RULES}

__all__ = ["Rule", "ALL_RULES", "RULES_BY_CODE", "RULES_BY_NAME"]
