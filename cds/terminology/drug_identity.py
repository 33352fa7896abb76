"""Medication identity: which ingredients a medication record names.

RxNorm clinical and branded drugs (SCD, SBD), packs (GPCK, BPCK) and NDC package codes resolve to
their ingredients through the generated table fhir/rxnorm/product-ingredients.json (its source
and date are in the file; regenerate with tools/build_rxnorm_map.py). The value sets then match
the ingredient codes and names, so a code without a display is read the same as one with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cds.errors import RuleFileError
from cds.paths import fhir_dir

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
_SYSTEMS = {
    RXNORM: RXNORM,
    "urn:oid:2.16.840.1.113883.6.88": RXNORM,
    "http://www.nlm.nih.gov/research/umls/rxnorm/": RXNORM,
    NDC: NDC,
    "urn:oid:2.16.840.1.113883.6.69": NDC,
}


@dataclass(frozen=True)
class Product:
    code: str
    tty: str  # SCD, SBD, GPCK, BPCK
    name: str
    ingredients: tuple[tuple[str, str], ...]  # (RxNorm ingredient code, name) a rule or trial reads
    ingredient_count: int | None  # all active ingredients; None for a pack


def normalise_ndc(code: str) -> str | None:
    """An NDC as the 11-digit 5-4-2 form the table uses. Hyphenated 10-digit forms (4-4-2, 5-3-2,
    5-4-1) pad the short segment; an unhyphenated 10-digit code is ambiguous and is not guessed."""
    code = code.strip().replace(" ", "")
    if "-" in code:
        parts = code.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            return None
        a, b, c = parts
        if (len(a), len(b), len(c)) in ((4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)):
            return a.zfill(5) + b.zfill(4) + c.zfill(2)
        return None
    return code if len(code) == 11 and code.isdigit() else None


class DrugIdentity:
    """Lookups build Products on demand and the NDC index on the first NDC seen: most records
    need a handful of the 2,000+ products, and a cold start should not pay for all of them."""

    def __init__(self, table: Mapping[str, Any]) -> None:
        self.version = str(table.get("version") or "")
        self.generated = str(table.get("generated") or "")
        self._names: dict[str, str] = dict(table["ingredients"])
        self._raw: Mapping[str, Any] = table["products"]
        self._products: dict[str, Product] = {}
        self._ndc: dict[str, str] | None = None

    def _get(self, rxcui: str) -> Product | None:
        if rxcui in self._products:
            return self._products[rxcui]
        p = self._raw.get(rxcui)
        if p is None:
            return None
        found = Product(
            code=rxcui,
            tty=str(p["tty"]),
            name=str(p["name"]),
            ingredients=tuple((i, self._names[i]) for i in p["ingredients"]),
            ingredient_count=p.get("ingredient_count"),
        )
        self._products[rxcui] = found
        return found

    def all_products(self) -> list[Product]:
        return [p for code in self._raw if (p := self._get(code)) is not None]

    def product(self, system: str | None, code: str | None) -> Product | None:
        sys_ = _SYSTEMS.get((system or "").strip())
        if not code or sys_ is None:
            return None
        if sys_ == NDC:
            if self._ndc is None:
                self._ndc = {
                    n: rxcui for rxcui, p in self._raw.items() for n in str(p.get("ndc") or "").split()
                }
            ndc = normalise_ndc(code)
            rxcui = self._ndc.get(ndc) if ndc else None
            return self._get(rxcui) if rxcui else None
        return self._get(code.strip())

    def products_in(self, concept: object) -> list[Product]:
        if not isinstance(concept, dict):
            return []
        out: list[Product] = []
        for coding in concept.get("coding") or []:
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                found = self.product(coding.get("system"), coding["code"])
                if found is not None and found not in out:
                    out.append(found)
        return out

    def expand(self, concept: dict[str, Any]) -> dict[str, Any]:
        """The concept with an RxNorm ingredient coding (code and name) added for each product code
        the table knows; the original codings and text are kept."""
        extra = [
            {"system": RXNORM, "code": code, "display": name}
            for p in self.products_in(concept)
            for code, name in p.ingredients
        ]
        if not extra:
            return concept
        return {**concept, "coding": [*(concept.get("coding") or []), *extra]}


def has_name(concept: object) -> bool:
    """Does the concept carry any human-readable name (a display or a text)?"""
    if not isinstance(concept, dict):
        return False
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return True
    return any(
        isinstance(c, dict) and isinstance(c.get("display"), str) and c["display"].strip()
        for c in concept.get("coding") or []
    )


def describe_codes(concept: object) -> str:
    """'RxNorm 1234567, NDC 0000-0000-00' for a message; 'no code' when there is none."""
    if not isinstance(concept, dict):
        return "no code"
    labels = {RXNORM: "RxNorm", NDC: "NDC"}
    parts = [
        f"{labels.get(_SYSTEMS.get(str(c.get('system') or ''), ''), c.get('system') or 'code')} {c['code']}"
        for c in concept.get("coding") or []
        if isinstance(c, dict) and c.get("code")
    ]
    return ", ".join(parts) or "no code"


def _check(table: object, path: Path) -> Mapping[str, Any]:
    if not isinstance(table, dict) or not all(k in table for k in ("ingredients", "products")):
        raise RuleFileError("not a product-ingredient table (ingredients, products)", file=str(path))
    return table


def load_drug_identity(path: Path | None = None) -> DrugIdentity:
    path = path or fhir_dir() / "rxnorm" / "product-ingredients.json"
    try:
        table = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise RuleFileError(f"cannot read the RxNorm product table ({exc})", file=str(path)) from exc
    return DrugIdentity(_check(table, path))
