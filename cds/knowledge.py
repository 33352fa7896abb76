"""Knowledge: everything a decision depends on, loaded once from folders into one immutable value.

A `Knowledge` holds the rules, the settings, the dose / outcome / benzodiazepine tables, the value
sets, the compiled rules engines per profile, and a **content hash** over every knowledge file and
the package (its version and its source). Every decision is stamped with the human version
(`rules/settings.yaml` `ruleset_version`) and that hash, so an auditor can tell exactly which
knowledge produced it: a changed threshold, value set, dose table or fact computation changes the
hash even when nobody bumps the version.

Knowledge files are every file under the rules folder and under the FHIR folder except its
`examples/` (example patients are data to assess, not knowledge). It is passed down explicitly:
`build_facts(resources, knowledge, as_of)`, `evaluate(resources, knowledge, as_of, profile)`.
`default_knowledge()` is the one process-wide instance, for entry points that did not load their own.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cds._version import __version__
from cds.contract.assessment import Profile
from cds.engine import RuleEngine
from cds.errors import InputError
from cds.paths import fhir_dir, rules_dir
from cds.ruleset.lint import check_rules
from cds.ruleset.loader import Ruleset, RulesetError, load_ruleset
from cds.settings import (
    BenzodiazepineEquivalents,
    ConceptVocabulary,
    DoseTable,
    OutcomeVocabulary,
    Settings,
    load_benzodiazepine_equivalents,
    load_concepts,
    load_dose_table,
    load_outcomes,
    load_settings,
)
from cds.terminology import ValueSets, load_valuesets
from cds.terminology.drug_identity import DrugIdentity, load_drug_identity
from cds.terminology.text import TextMatcher, load_text_matcher

PROFILES: Final[tuple[Profile, ...]] = ("us-fda", "eu-smpc")
PACKAGE_VERSION: Final = __version__
_PACKAGE_DIR = Path(__file__).resolve().parent
_NOT_KNOWLEDGE = frozenset({"examples"})  # folders under fhir/ that hold data to assess


def _files(folder: Path, skip: frozenset[str] = frozenset()) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if path.is_file() and not (rel and rel[0] in skip) and "__pycache__" not in rel:
            yield path


def knowledge_files(rules: Path, fhir: Path) -> Iterator[tuple[str, Path]]:
    """Every knowledge file, labelled by folder ("rules/...", "fhir/..."), in a stable order."""
    for label, folder, skip in (("rules", rules, frozenset[str]()), ("fhir", fhir, _NOT_KNOWLEDGE)):
        for path in _files(folder, skip):
            yield f"{label}/{path.relative_to(folder).as_posix()}", path


def content_hash(rules: Path, fhir: Path) -> str:
    """sha256 over every knowledge file (by path relative to its folder, and bytes), the package
    version and the package's Python source."""
    h = hashlib.sha256(f"ketamine-cds {PACKAGE_VERSION}\n".encode())
    for label, path in knowledge_files(rules, fhir):
        h.update(f"{label}\0".encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    for path in _files(_PACKAGE_DIR):
        if path.suffix == ".py":
            h.update(f"cds/{path.relative_to(_PACKAGE_DIR).as_posix()}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def stamp_of(version: str, digest: str) -> str:
    """Version and hash in one string (SemVer build metadata), as audit rows and cards carry it."""
    return f"{version}+{digest[:16]}"


def _folders(rules: Path | None, fhir: Path | None) -> tuple[Path, Path]:
    """The folders `Knowledge.load(rules, fhir)` reads, resolved."""
    return (rules or rules_dir()).resolve(), (fhir or fhir_dir()).resolve()


def stamp_without_compiling(rules: Path | None = None, fhir: Path | None = None) -> str:
    """The stamp `Knowledge.load(rules, fhir)` would carry, read from the files alone: for a process
    that never assesses but must check another's (the Dask client checking its workers)."""
    rules, fhir = _folders(rules, fhir)
    return stamp_of(load_settings(rules).ruleset_version, content_hash(rules, fhir))


@dataclass(frozen=True)
class Knowledge:
    rules_dir: Path
    fhir_dir: Path
    settings: Settings
    doses: DoseTable
    outcomes: OutcomeVocabulary
    benzodiazepines: BenzodiazepineEquivalents
    concepts: ConceptVocabulary
    valuesets: ValueSets
    drug_identity: DrugIdentity  # RxNorm / NDC products -> ingredients (fhir/rxnorm/)
    text_matcher: TextMatcher  # wording of absolute concepts, for entries no code places
    ruleset: Ruleset
    hash: str  # content hash (hex sha256)
    engines: dict[Profile, RuleEngine] = field(repr=False)

    @property
    def version(self) -> str:
        """The human ruleset version (rules/settings.yaml), bumped by the committee on release."""
        return self.settings.ruleset_version

    @property
    def stamp(self) -> str:
        """Version and hash in one string (SemVer build metadata), as audit rows and cards carry it."""
        return stamp_of(self.version, self.hash)

    def engine(self, profile: Profile) -> RuleEngine:
        if profile not in self.engines:
            raise InputError(f"unknown profile {profile!r} (use {' or '.join(PROFILES)})")
        return self.engines[profile]

    @classmethod
    def load(cls, rules: Path | None = None, fhir: Path | None = None) -> Knowledge:
        """Load, lint and compile. Raises RulesetError (every problem by file and line) or
        RuleFileError; a knowledge folder that does not load is never half used."""
        rules, fhir = _folders(rules, fhir)
        settings = load_settings(rules)
        valuesets = load_valuesets(fhir / "valuesets")
        ruleset = load_ruleset(rules)
        concepts = load_concepts(rules)
        problems = check_rules(ruleset, settings, valuesets, concepts)
        if problems:
            raise RulesetError(problems)
        digest = content_hash(rules, fhir)
        engines = {
            p: RuleEngine(ruleset.for_profile(p), settings, f"{p.replace('-', '_')}_{digest[:12]}")
            for p in PROFILES
        }
        return cls(
            rules_dir=rules,
            fhir_dir=fhir,
            settings=settings,
            doses=load_dose_table(rules),
            outcomes=load_outcomes(rules),
            benzodiazepines=load_benzodiazepine_equivalents(rules),
            concepts=concepts,
            valuesets=valuesets,
            drug_identity=load_drug_identity(fhir / "rxnorm" / "product-ingredients.json"),
            text_matcher=load_text_matcher(fhir / "absolute-text-patterns.yaml"),
            ruleset=ruleset,
            hash=digest,
            engines=engines,
        )


_DEFAULT: Knowledge | None = None
_DEFAULT_LOCK = threading.Lock()


def default_knowledge() -> Knowledge:
    """The knowledge in the configured folders (`CDS_RULES_DIR`, `CDS_FHIR_DIR`, else beside the
    package), loaded on first use and then shared: it is immutable."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Knowledge.load(*_default_folders())
        return _DEFAULT


def default_stamp() -> str:
    """The stamp `default_knowledge()` carries (or would, once loaded), without compiling anything."""
    with _DEFAULT_LOCK:
        if _DEFAULT is not None:
            return _DEFAULT.stamp
    return stamp_without_compiling(*_default_folders())


def _default_folders() -> tuple[Path | None, Path | None]:
    rules = os.environ.get("CDS_RULES_DIR")
    fhir = os.environ.get("CDS_FHIR_DIR")
    return Path(rules) if rules else None, Path(fhir) if fhir else None
