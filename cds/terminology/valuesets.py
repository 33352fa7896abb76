"""Value sets kept as FHIR ValueSet JSON in fhir/valuesets/, and matching codes against them.

Matching rules (all stated in the data, see fhir/code-systems.json):
- `compose.include.concept`: exact code in the same system (after system aliases).
- `compose.include.filter` with op `is-a`: for hierarchical code systems (ICD-10-CM) the code
  itself or any code below it (dot-aware prefix); elsewhere the code itself only.
- ValueSets flagged with the `match-text` extension also match by ingredient name or synonym
  (designation) in a coding's display or a CodeableConcept's text, on word boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import orjson

from cds.errors import RuleFileError
from cds.paths import fhir_dir

EXT_BASE = "http://ketamine-cds.org/fhir/StructureDefinition/"


@dataclass(frozen=True)
class Match:
    valueset: str
    system: str
    code: str
    display: str  # the value set's display for the matched code (the ingredient name for drugs)
    by: str  # "code" (compose), "expansion" (a listed descendant), "is-a" (ICD-10-CM prefix), "text" or "server"
    confidence: str | None


@dataclass
class ValueSet:
    id: str
    title: str
    exact: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)
    expanded: set[tuple[str, str]] = field(default_factory=set)  # codes known from the expansion only
    prefixes: list[tuple[str, str, str, str | None]] = field(
        default_factory=list
    )  # system, code, display, conf
    names: list[tuple[re.Pattern[str], str, str, str]] = field(
        default_factory=list
    )  # pattern, system, code, display


def _ext(element: dict[str, Any], name: str) -> object | None:
    extensions = element.get("extension") or []
    for ext in extensions if isinstance(extensions, list) else []:
        if isinstance(ext, dict) and ext.get("url") == EXT_BASE + name:
            for key, value in ext.items():
                if key.startswith("value"):
                    return cast(object, value)
    return None


def _name_pattern(name: str) -> re.Pattern[str]:
    # Word boundaries keep "citalopram" out of "escitalopram" and "imipramine" out of "trimipramine".
    return re.compile(r"(?<![A-Za-z])" + re.escape(name) + r"(?![A-Za-z])", re.IGNORECASE)


class Placer(Protocol):
    """Places a code the expansions do not list (a terminology server's $subsumes)."""

    def place(self, vs_ids: Sequence[str], system: str, code: str) -> dict[str, tuple[str, str]]: ...


class ValueSets:
    def __init__(
        self,
        sets: dict[str, ValueSet],
        aliases: dict[str, str],
        hierarchical: set[str],
        placer: Placer | None = None,
    ) -> None:
        self._sets = sets
        self.placer = placer
        self._aliases = aliases
        self._hierarchical = hierarchical
        # Reverse indexes: one dict lookup per coding instead of one per coding and value set.
        self._exact: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {}
        self._prefixes: dict[str, list[tuple[str, str, str, str | None]]] = {}
        self._expanded: set[tuple[str, str, str]] = set()
        for vs in sets.values():
            for key, (display, conf) in vs.exact.items():
                self._exact.setdefault(key, []).append((vs.id, display, conf))
            self._expanded.update((vs.id, *key) for key in vs.expanded)
            for p_sys, p_code, display, conf in vs.prefixes:
                self._prefixes.setdefault(p_sys, []).append((vs.id, p_code, display, conf))

    def with_placer(self, placer: Placer | None) -> ValueSets:
        """The same value sets, asking `placer` about codes no expansion lists (a new object; this one is shared)."""
        return ValueSets(self._sets, self._aliases, self._hierarchical, placer)

    def is_a_roots(self) -> dict[str, list[tuple[str, str, str]]]:
        """Value set id -> (system, code, display) of its is-a roots outside the hierarchical systems."""
        out: dict[str, list[tuple[str, str, str]]] = {}
        for vs in self._sets.values():
            for p_sys, p_code, display, _ in vs.prefixes:
                if p_sys not in self._hierarchical:
                    out.setdefault(vs.id, []).append((p_sys, p_code, display))
        return out

    def __contains__(self, vs_id: object) -> bool:
        return vs_id in self._sets

    def ids(self) -> list[str]:
        return sorted(self._sets)

    def get(self, vs_id: str) -> ValueSet:
        return self._sets[vs_id]

    def system(self, system: str | None) -> str:
        return self._aliases.get(system or "", system or "")

    def match_coding(self, vs_id: str, system: str | None, code: str | None) -> Match | None:
        if not code:
            return None
        vs = self._sets[vs_id]
        sys_ = self.system(system)
        hit = vs.exact.get((sys_, code))
        if hit is not None:
            return Match(vs_id, sys_, code, hit[0], self._by(vs_id, sys_, code), hit[1])
        for p_sys, p_code, display, conf in vs.prefixes:
            if p_sys != sys_:
                continue
            if code == p_code or (sys_ in self._hierarchical and _below(code, p_code)):
                return Match(vs_id, sys_, code, display, "is-a", conf)
        return None

    def match_text(self, vs_id: str, text: str | None) -> list[Match]:
        if not text:
            return []
        found: dict[str, Match] = {}
        for pattern, system, code, display in self._sets[vs_id].names:
            if pattern.search(text) and display not in found:
                found[display] = Match(vs_id, system, code, display, "text", None)
        return list(found.values())

    def match_concept(self, vs_id: str, concept: dict[str, object] | None) -> list[Match]:
        """Match a FHIR CodeableConcept: codes first; names in display/text only when no code matched."""
        return self.match_concept_in((vs_id,), concept).get(vs_id, [])

    def match_concept_in(self, vs_ids: Sequence[str], concept: object) -> dict[str, list[Match]]:
        """The matches of one CodeableConcept in each of several value sets (only those with hits)."""
        if not isinstance(concept, dict) or not concept:
            return {}
        wanted = set(vs_ids)
        out: dict[str, list[Match]] = {}
        texts: list[str] = []
        codings = concept.get("coding") or []
        for coding in codings if isinstance(codings, list) else []:
            if not isinstance(coding, dict):
                continue
            if isinstance(coding.get("display"), str):
                texts.append(coding["display"])
            code = _s(coding.get("code"))
            if not code:
                continue
            sys_ = self.system(_s(coding.get("system")))
            hit_sets: set[str] = set()
            for vs_id, display, conf in self._exact.get((sys_, code), ()):
                if vs_id in wanted and vs_id not in hit_sets:
                    hit_sets.add(vs_id)
                    out.setdefault(vs_id, []).append(
                        Match(vs_id, sys_, code, display, self._by(vs_id, sys_, code), conf)
                    )
            hierarchical = sys_ in self._hierarchical
            for vs_id, p_code, display, conf in self._prefixes.get(sys_, ()):
                if (
                    vs_id in wanted
                    and vs_id not in hit_sets
                    and (code == p_code or (hierarchical and _below(code, p_code)))
                ):
                    hit_sets.add(vs_id)
                    out.setdefault(vs_id, []).append(Match(vs_id, sys_, code, display, "is-a", conf))
            if self.placer is not None and not hierarchical and not self.placed(sys_, code):
                for vs_id, (_root, root_display) in self.placer.place(
                    [v for v in vs_ids if v not in hit_sets], sys_, code
                ).items():
                    hit_sets.add(vs_id)
                    label = f"{coding.get('display') or code} (is-a {root_display}, terminology server)"
                    out.setdefault(vs_id, []).append(Match(vs_id, sys_, code, label, "server", None))
        if isinstance(concept.get("text"), str):
            texts.append(concept["text"])
        for vs_id in vs_ids:
            if vs_id in out or not self._sets[vs_id].names:
                continue
            found: list[Match] = []
            for text in texts:
                found.extend(
                    m for m in self.match_text(vs_id, text) if m.display not in {x.display for x in found}
                )
            if found:
                out[vs_id] = found
        return out

    def enumerate_codes(self, vs_ids: Sequence[str]) -> list[str] | None:
        """Every code of these value sets, when they can be listed (explicit codes only); None when
        one matches by is-a filter or by text, which a code list cannot express."""
        codes: set[str] = set()
        for vs_id in vs_ids:
            vs = self._sets[vs_id]
            if vs.prefixes or vs.names:
                return None
            codes.update(code for _, code in vs.exact)
        return sorted(codes)

    def _by(self, vs_id: str, system: str, code: str) -> str:
        return "expansion" if (vs_id, system, code) in self._expanded else "code"

    def placed(self, system: str | None, code: str | None) -> bool:
        """Whether a code belongs to any value set (exactly, by expansion or by ICD-10-CM prefix)."""
        if not code:
            return False
        sys_ = self.system(system)
        if (sys_, code) in self._exact:
            return True
        hierarchical = sys_ in self._hierarchical
        return any(
            code == p_code or (hierarchical and _below(code, p_code))
            for _, p_code, _, _ in self._prefixes.get(sys_, ())
        )

    def is_hierarchical(self, system: str | None) -> bool:
        """Code systems whose hierarchy the engine has in full (ICD-10-CM: the code is its path)."""
        return self.system(system) in self._hierarchical


def _s(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _below(code: str, parent: str) -> bool:
    # ICD-10-CM: "F33.1" is below "F33"; "I71.21" below "I71.2"; "F330" (undotted) below "F33".
    c, p = code.replace(".", "").upper(), parent.replace(".", "").upper()
    return c.startswith(p)


def _load_one(path: Path) -> ValueSet:
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise RuleFileError(f"not valid JSON ({exc})", file=str(path)) from exc
    if not isinstance(data, dict) or data.get("resourceType") != "ValueSet" or not data.get("id"):
        raise RuleFileError("not a FHIR ValueSet with an id", file=str(path))
    if data["id"] != path.stem:
        raise RuleFileError(f"id {data['id']!r} differs from the file name", file=str(path))
    text_match = _ext(data, "match-text") is True
    vs = ValueSet(id=str(data["id"]), title=str(data.get("title") or data["id"]))
    for include in data.get("compose", {}).get("include", []):
        system = include.get("system")
        if not system:
            raise RuleFileError("compose.include without system", file=str(path))
        for concept in include.get("concept", []):
            code, display = concept["code"], concept.get("display", concept["code"])
            conf = _ext(concept, "confidence")
            vs.exact[(system, code)] = (display, conf if isinstance(conf, str) else None)
            if text_match:
                for name in [_ingredient_name(display)] + [
                    d["value"] for d in concept.get("designation", [])
                ]:
                    vs.names.append((_name_pattern(name), system, code, _ingredient_name(display)))
        for flt in include.get("filter", []):
            if flt.get("op") != "is-a" or flt.get("property") != "concept":
                raise RuleFileError(
                    f"unsupported filter {flt.get('property')} {flt.get('op')}", file=str(path)
                )
            conf = _ext(flt, "confidence")
            disp = _ext(flt, "display")
            vs.prefixes.append(
                (system, flt["value"], str(disp or flt["value"]), conf if isinstance(conf, str) else None)
            )
    expansion = data.get("expansion")
    if expansion is not None:
        if not isinstance(expansion, dict) or not isinstance(expansion.get("contains", []), list):
            raise RuleFileError("expansion.contains is not a list", file=str(path))
        for entry in expansion.get("contains", []):
            system, code = entry.get("system"), entry.get("code")
            if not isinstance(system, str) or not isinstance(code, str):
                raise RuleFileError(f"expansion entry without system and code: {entry!r}", file=str(path))
            key = (system, code)
            if key in vs.exact:
                continue
            conf = _ext(entry, "confidence")
            vs.exact[key] = (str(entry.get("display") or code), conf if isinstance(conf, str) else None)
            vs.expanded.add(key)
    return vs


def _ingredient_name(display: str) -> str:
    # "ketamine (IN)" -> "ketamine"; product displays keep their first word set before a bracket.
    return re.sub(r"\s*[\[(].*$", "", display).strip()


def load_valuesets(folder: Path | None = None) -> ValueSets:
    folder = folder or fhir_dir() / "valuesets"
    sets = {p.stem: _load_one(p) for p in sorted(folder.glob("*.json"))}
    meta = orjson.loads((folder.parent / "code-systems.json").read_bytes())
    return ValueSets(sets, dict(meta["aliases"]), set(meta["hierarchical_codes"]))
