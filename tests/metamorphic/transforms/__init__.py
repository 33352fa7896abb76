"""One module per area of FHIR shapes (observations, medications, conditions, patient ...)."""

from __future__ import annotations

import importlib
import pkgutil

from tests.metamorphic.harness import Changing, Preserving


def discover() -> tuple[list[Preserving], list[Changing]]:
    preserving: list[Preserving] = []
    changing: list[Changing] = []
    for mod in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        preserving += getattr(module, "PRESERVING", [])
        changing += getattr(module, "CHANGING", [])
    return preserving, changing
