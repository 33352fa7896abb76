"""UCUM units of FHIR Quantities, converted through a real UCUM implementation (ucumvert: the UCUM
grammar and unit table from ucum-essence.xml, on pint), never a hand table.

A Quantity's unit is its `code` when the system is UCUM (or not given), else its `unit` text read as
UCUM. A unit that is not valid UCUM, or not of the wanted kind (mass, IU per volume), converts to
None: the caller turns it into a data gap."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

UCUM = "http://unitsofmeasure.org"


@cache
def _registry() -> Any:
    # Built once per process (about a second): only when a unit other than the target appears.
    from ucumvert import PintUcumRegistry

    return PintUcumRegistry()


def quantity_unit(quantity: dict[str, Any]) -> str | None:
    """The UCUM code a Quantity claims: `code` (UCUM or no system), else the `unit` text."""
    code = quantity.get("code")
    system = quantity.get("system")
    if isinstance(code, str) and code.strip() and system in (None, UCUM):
        return code.strip()
    if system not in (None, UCUM):
        return None  # a code from another unit system: not readable as UCUM
    unit = quantity.get("unit")
    return unit.strip() if isinstance(unit, str) and unit.strip() else None


@lru_cache(maxsize=512)
def factor(unit: str, target: str) -> float | None:
    """How many `target` one `unit` is; None when `unit` is not valid UCUM or not commensurable."""
    if unit == target:
        return 1.0
    reg = _registry()
    try:
        return float((1 * reg.from_ucum(unit)).to(reg.from_ucum(target)).magnitude)
    except Exception:  # ucumvert raises its own parse errors, pint its dimensionality errors
        return None


@lru_cache(maxsize=512)
def is_ucum(unit: str) -> bool:
    if unit in ("kg", "g", "mm[Hg]", "cm"):
        return True
    try:
        _registry().from_ucum(unit)
    except Exception:
        return False
    return True


def convert(value: float, unit: str | None, target: str) -> float | None:
    if unit is None:
        return None
    f = factor(unit, target)
    return None if f is None else value * f
