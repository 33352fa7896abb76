"""Building `ValueSet.expansion` for every file in fhir/valuesets/ (`cds terminology build`).

An expansion lists every code the value set matches, each with where it came from:
- the value set's own `compose.include.concept` codes (source: the value set, dated by the recipe);
- codes taken from public VSAC / CDC expansions in ../shared/terminology, selected by the recipe
  `fhir/expansion-sources.yaml` (which file, which system, which displays) with the reason for each
  selection. These flat, published lists stand in for the SNOMED CT hierarchy: a descendant of an
  `is-a` concept matches when a published expansion lists it.

ICD-10-CM `is-a` filters stay in `compose` and are matched as dot-aware code prefixes (the code
structure is the hierarchy), so their codes need not all be listed.

The build is a pure function of the value sets (without their expansions), the recipe and the
source files: the same inputs give byte-identical files (no clock, sorted output), which a test checks.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cds import yamlio
from cds.errors import KnowledgeError
from cds.terminology.valuesets import EXT_BASE

SYSTEMS = {
    "snomed": "http://snomed.info/sct",
    "icd-10-cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "loinc": "http://loinc.org",
}
EXT_SOURCE = EXT_BASE + "source"
EXT_CONF = EXT_BASE + "confidence"


class Selection(BaseModel):
    """Which codes of one public expansion go into a value set, and why."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="File in the shared terminology folder")
    why: str = Field(min_length=10, description="Why these codes belong to the concept")
    system: str | None = Field(
        default=None, description="snomed | icd-10-cm | rxnorm | loinc; all when absent"
    )
    display: str | None = Field(default=None, description="Regular expression a display must match")
    exclude_display: str | None = Field(
        default=None, description="Regular expression that excludes a display"
    )
    code_prefix: str | None = Field(default=None, description="Keep only codes starting with this")
    exclude_codes: list[str] = Field(default_factory=list)

    @field_validator("system")
    @classmethod
    def _known_system(cls, v: str | None) -> str | None:
        if v is not None and v not in SYSTEMS:
            raise ValueError(f"unknown system {v!r}; one of {sorted(SYSTEMS)}")
        return v

    @field_validator("display", "exclude_display")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            re.compile(v)
        return v


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    compose_date: str = Field(
        description="Date the compose codes were last reviewed (the expansion date without sources)"
    )
    valuesets: dict[str, list[Selection]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    file: str
    url: str
    version: str
    title: str
    identifier: str
    timestamp: str
    contains: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return f"{self.title} ({self.url}|{self.version}, expansion {self.identifier}, {self.timestamp[:10]})"


class BuildError(KnowledgeError):
    """A recipe or source problem, with the file it concerns."""


def load_recipe(path: Path) -> Recipe:
    try:
        return Recipe.model_validate(yamlio.load(path.read_text()))
    except (yaml.YAMLError, ValueError) as exc:
        raise BuildError(f"{path}: {exc}") from exc


def find_sources_dir(root: Path) -> Path | None:
    """../shared/terminology beside the checkout (CI), or two levels up (a git worktree)."""
    for base in (root.parent, root.parent.parent):
        candidate = base / "shared" / "terminology"
        if candidate.is_dir():
            return candidate
    return None


def _load_source(folder: Path, name: str) -> Source:
    path = folder / name
    if not path.is_file():
        raise BuildError(f"{path}: source expansion not found")
    data = json.loads(path.read_text())
    exp = data.get("expansion") or {}
    if not exp.get("contains"):
        raise BuildError(f"{path}: no expansion.contains")
    return Source(
        file=name,
        url=str(data.get("url", "")),
        version=str(data.get("version", "")),
        title=str(data.get("title") or data.get("name") or name),
        identifier=str(exp.get("identifier", "")),
        timestamp=str(exp.get("timestamp", "")),
        contains=list(exp["contains"]),
    )


def _select(src: Source, sel: Selection) -> list[dict[str, Any]]:
    system = SYSTEMS.get(sel.system or "")
    inc = re.compile(sel.display, re.IGNORECASE) if sel.display else None
    exc = re.compile(sel.exclude_display, re.IGNORECASE) if sel.exclude_display else None
    out = []
    for c in src.contains:
        display = str(c.get("display", ""))
        if system and c.get("system") != system:
            continue
        if c.get("system") not in SYSTEMS.values():
            continue  # ICD-9-CM and other retired systems are never matched
        if sel.code_prefix and not str(c["code"]).startswith(sel.code_prefix):
            continue
        if inc and not inc.search(display):
            continue
        if exc and exc.search(display):
            continue
        if c["code"] in sel.exclude_codes:
            continue
        out.append(c)
    return out


def _without_expansion(vs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in vs.items() if k != "expansion"}


def expand(vs: dict[str, Any], recipe: Recipe, sources: dict[str, Source]) -> dict[str, Any]:
    """The value set with a rebuilt `expansion` (input not modified)."""
    vs_id = str(vs["id"])
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    used: list[Source] = []
    for include in vs.get("compose", {}).get("include", []):
        for concept in include.get("concept", []):
            conf = next(
                (e.get("valueCode") for e in concept.get("extension", []) if e.get("url") == EXT_CONF), None
            )
            entries[(include["system"], concept["code"])] = _entry(
                include["system"],
                concept["code"],
                concept.get("display", concept["code"]),
                f"compose of this value set ({recipe.compose_date})",
                conf,
            )
        for flt in include.get("filter", []):
            disp = next(
                (
                    e.get("valueString")
                    for e in flt.get("extension", [])
                    if e.get("url") == EXT_BASE + "display"
                ),
                None,
            )
            # The is-a root itself is a member; its descendants come from the selections below.
            key = (include["system"], flt["value"])
            entries.setdefault(
                key,
                _entry(
                    include["system"],
                    flt["value"],
                    disp or flt["value"],
                    f"is-a root ({recipe.compose_date})",
                    None,
                ),
            )
    for sel in recipe.valuesets.get(vs_id, []):
        src = sources[sel.file]
        if src not in used:
            used.append(src)
        for c in _select(src, sel):
            key = (c["system"], c["code"])
            if key not in entries:
                entries[key] = _entry(
                    c["system"], c["code"], str(c.get("display", c["code"])), src.label, "V"
                )
    contains = [entries[k] for k in sorted(entries)]
    body = json.dumps([_without_expansion(vs), contains], sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    stamps = [s.timestamp for s in used if s.timestamp] + [recipe.compose_date]
    params: list[dict[str, Any]] = [
        {"name": "used-valueset", "valueUri": f"{s.url}|{s.version}"} for s in used
    ] + [{"name": "source", "valueString": s.label} for s in used]
    params.append(
        {
            "name": "note",
            "valueString": "ICD-10-CM is-a filters in compose also match every code below them (dot-aware prefix); "
            "SNOMED CT descendants match only when listed here or confirmed by a configured terminology server.",
        }
    )
    out = _without_expansion(vs)
    out["expansion"] = {
        "identifier": f"urn:ketamine-cds:expansion:{vs_id}:{digest}",
        "timestamp": max(stamps, key=lambda s: s[:10]),
        "total": len(contains),
        "parameter": params,
        "contains": contains,
    }
    return out


def _entry(system: str, code: str, display: str, source: str, conf: str | None) -> dict[str, Any]:
    ext = [{"url": EXT_SOURCE, "valueString": source}]
    if conf:
        ext.append({"url": EXT_CONF, "valueCode": conf})
    return {"system": system, "code": code, "display": display, "extension": ext}


def render(vs: dict[str, Any]) -> str:
    return json.dumps(vs, indent=2, ensure_ascii=False) + "\n"


def build_all(valueset_dir: Path, recipe_path: Path, sources_dir: Path) -> dict[Path, str]:
    """Every value set file's new text (nothing written)."""
    recipe = load_recipe(recipe_path)
    unknown = sorted(set(recipe.valuesets) - {p.stem for p in valueset_dir.glob("*.json")})
    if unknown:
        raise BuildError(f"{recipe_path}: recipe names value sets that do not exist: {', '.join(unknown)}")
    files = {sel.file for sels in recipe.valuesets.values() for sel in sels}
    sources = {name: _load_source(sources_dir, name) for name in sorted(files)}
    out: dict[Path, str] = {}
    for path in sorted(valueset_dir.glob("*.json")):
        out[path] = render(expand(json.loads(path.read_text()), recipe, sources))
    return out
