"""Value-set governance: code formats per system, overlaps between concepts, the catalogue.

Format checks catch a typo before it silently matches nothing: ICD-10-CM by pattern, SNOMED CT by
its Verhoeff check digit and partition, LOINC by its mod-10 check digit, RxNorm as a number.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.terminology.expansions import SYSTEMS

SNOMED, ICD10CM, RXNORM, LOINC = (SYSTEMS[k] for k in ("snomed", "icd-10-cm", "rxnorm", "loinc"))
CPT = "http://www.ama-assn.org/go/cpt"

# Letter, digit, alphanumeric; optional dot and up to 4 more (7th character may be a letter).
_ICD10CM = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_LOINC_ANSWER = re.compile(r"^LA\d{1,6}-\d$")

# Verhoeff tables (SNOMED CT identifiers end in a Verhoeff check digit).
_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def verhoeff_ok(digits: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def loinc_check_ok(code: str) -> bool:
    """LOINC mod-10: double every other digit from the right of the base number."""
    m = _LOINC.match(code)
    if not m:
        return False
    base, check = m.group(1), int(m.group(2))
    total = 0
    for i, ch in enumerate(reversed(base)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d // 10 + d % 10
        total += d
    return (10 - total % 10) % 10 == check


def code_problem(system: str, code: str) -> str | None:
    """Why a code is malformed for its system, or None."""
    if system == ICD10CM:
        return (
            None
            if _ICD10CM.match(code)
            else "not an ICD-10-CM code as value sets write it (letter, 2 characters, then a dot and up to 4)"
        )
    if system == SNOMED:
        if not code.isdigit() or not 6 <= len(code) <= 18:
            return "a SNOMED CT identifier is 6 to 18 digits"
        if code[-2] not in "01":
            return f"partition digit {code[-2]!r} is not a concept (0 or 1)"
        return None if verhoeff_ok(code) else "SNOMED CT Verhoeff check digit is wrong"
    if system == LOINC:
        if code.startswith("LA"):  # answer codes: the mod-10 check does not apply to LA ids
            return None if _LOINC_ANSWER.match(code) else "not a LOINC answer code (LA, digits, dash, digit)"
        return None if loinc_check_ok(code) else "not a LOINC code with a valid mod-10 check digit"
    if system == RXNORM:
        return None if code.isdigit() else "an RxNorm RXCUI is numeric"
    if system == CPT:
        return None if re.fullmatch(r"\d{4}[0-9FTU]", code) else "a CPT code is 5 characters"
    return None


@dataclass(frozen=True)
class Problem:
    file: str
    system: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.code} ({self.system}): {self.message}"


def _codes(vs: dict[str, Any]) -> Iterable[tuple[str, str, str]]:
    """(where, system, code) for compose concepts, filter values and expansion entries."""
    for include in vs.get("compose", {}).get("include", []):
        for concept in include.get("concept", []):
            yield "compose", include["system"], concept["code"]
        for flt in include.get("filter", []):
            yield "filter", include["system"], flt["value"]
    for entry in (vs.get("expansion") or {}).get("contains", []):
        yield "expansion", entry["system"], entry["code"]


def check_formats(folder: Path) -> list[Problem]:
    out: list[Problem] = []
    for path in sorted(folder.glob("*.json")):
        vs = json.loads(path.read_text())
        for where, system, code in _codes(vs):
            if where == "filter" and system == ICD10CM and re.fullmatch(r"[A-Z][0-9][0-9A-Z]", code):
                continue  # a category as an is-a root
            problem = code_problem(system, code)
            if problem:
                out.append(Problem(f"fhir/valuesets/{path.name} ({where})", system, code, problem))
    return out


@dataclass(frozen=True)
class Overlap:
    a: str
    b: str
    codes: tuple[str, ...]


def overlaps(folder: Path) -> list[Overlap]:
    """Codes that two value sets of different concepts both hold (exact codes and listed expansions)."""
    members: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted(folder.glob("*.json")):
        vs = json.loads(path.read_text())
        for where, system, code in _codes(vs):
            if where != "filter":
                members[(system, code)].add(path.stem)
    pairs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (_, code), sets in members.items():
        ordered = sorted(sets)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                pairs[(a, b)].add(code)
    return [Overlap(a, b, tuple(sorted(codes))) for (a, b), codes in sorted(pairs.items())]


def catalogue(folder: Path) -> str:
    """docs/VALUESETS.md: every value set's codes, its sources and the overlaps."""
    lines = [
        "# Value sets",
        "",
        "Generated by `cds terminology catalogue` from `fhir/valuesets/*.json`; do not edit. The JSON files "
        "(their `compose`) and `fhir/expansion-sources.yaml` are what to edit; then `cds terminology build`.",
        "",
    ]
    for path in sorted(folder.glob("*.json")):
        vs = json.loads(path.read_text())
        exp = vs.get("expansion") or {}
        lines += [f"## {vs.get('title', vs['id'])} (`{vs['id']}`)", "", str(vs.get("description", "")), ""]
        filters = [
            (inc["system"], f["value"])
            for inc in vs.get("compose", {}).get("include", [])
            for f in inc.get("filter", [])
        ]
        if filters:
            lines.append("is-a roots: " + ", ".join(f"`{c}` ({_short(s)})" for s, c in filters))
            lines.append("")
        if exp:
            lines.append(
                f"Expansion `{exp.get('identifier')}` of {exp.get('timestamp')}, {exp.get('total')} codes."
            )
            for p in exp.get("parameter", []):
                if p.get("name") == "source":
                    lines.append(f"- source: {p['valueString']}")
            lines.append("")
        lines += ["| system | code | display |", "|---|---|---|"]
        for entry in exp.get("contains", []):
            display = str(entry.get("display", "")).replace("|", "/")
            lines.append(f"| {_short(entry['system'])} | {entry['code']} | {display} |")
        lines.append("")
    lines += [
        "## Overlaps between value sets",
        "",
        "| value set | value set | shared codes |",
        "|---|---|---|",
    ]
    for o in overlaps(folder):
        shown = ", ".join(o.codes[:12]) + (f", ... ({len(o.codes)})" if len(o.codes) > 12 else "")
        lines.append(f"| {o.a} | {o.b} | {shown} |")
    return "\n".join(lines) + "\n"


def _short(system: str) -> str:
    for name, uri in SYSTEMS.items():
        if uri == system:
            return name
    return system
