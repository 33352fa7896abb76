"""Checks a rule file's schema cannot express: facts, fields, value sets, concepts, settings,
templates and contradictions; and, for `cds rules lint`, that a changed rule bumped its version."""

from __future__ import annotations

import difflib
import re
import subprocess
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlparse

from cds import yamlio
from cds.contract.facts import FACT_KINDS, engine_fields
from cds.errors import KnowledgeError
from cds.ruleset.loader import Ruleset
from cds.ruleset.operators import NUMERIC
from cds.ruleset.problems import Problem
from cds.ruleset.schema import Rule, SettingRef, comparisons, resolve
from cds.settings import ConceptVocabulary, Settings
from cds.terminology import ValueSets

_TEMPLATE = re.compile(r"\{([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\}")
_SETTING = re.compile(r"\{settings\.([a-z_][a-z0-9_.]*)\}")
_NUMBER = re.compile(r"(?<![\w.{])(\d+(?:\.\d+)?)(?![\w.}])")


def _field_type(kind: str, name: str) -> Any:
    model = FACT_KINDS[kind]
    base = (
        name[: -len("_days_ago")] if name.endswith("_days_ago") and name not in model.model_fields else name
    )
    ann = model.model_fields[base].annotation
    if base != name:
        return int
    return ann


def _allowed_values(ann: Any) -> set[Any] | None:
    args = [a for a in get_args(ann) if a is not type(None)]
    literal_values = {
        v
        for a in [ann, *args]
        for v in (
            get_args(a)
            if getattr(a, "__origin__", None) is not None and str(a).startswith("typing.Literal")
            else []
        )
    }
    if str(ann).startswith("typing.Literal"):
        return set(get_args(ann))
    return literal_values or None


# Hosts a rule may cite (issue 13 item 13): the publishers of the canonical citations in
# ../shared/clinical/CITATIONS.md (official labels by setid, EPAR/SmPC, REMS@FDA, DOI/PubMed/PMC,
# guidelines and code systems at their publisher). Mirrors, test servers, promotional and
# third-party summary pages are refused; add a host only with its canonical source.
CITATION_HOSTS = frozenset(
    {
        "dailymed.nlm.nih.gov",  # US labels by setid (SPRAVATO, ketamine HCl)
        "www.accessdata.fda.gov",  # REMS@FDA
        "www.ema.europa.eu",  # EPAR: SmPC and package leaflet
        "doi.org",  # journal articles by DOI
        "pubmed.ncbi.nlm.nih.gov",
        "pmc.ncbi.nlm.nih.gov",
        "www.nice.org.uk",
        "www.healthquality.va.gov",  # VA/DoD guideline
        "www.psychiatrist.com",  # J Clin Psychiatry, publisher pages (Andrade series, Thase-Rush)
        "hl7.org",  # FHIR specification
        "loinc.org",
        "www.cdc.gov",  # ICD-10-CM (NCHS)
        "www.cms.gov",
        "mor.nlm.nih.gov",  # RxNav
        "clinicaltrials.gov",
    }
)


def citation_problem(url: str) -> str | None:
    """Why a citation URL is refused, or None."""
    parsed = urlparse(url)
    if parsed.scheme != "https":
        return f"citation url {url!r} is not https"
    if parsed.hostname not in CITATION_HOSTS:
        return (
            f"citation host {parsed.hostname!r} is not on the allow-list (cds/ruleset/lint.py CITATION_HOSTS): "
            "cite the canonical source from ../shared/clinical/CITATIONS.md"
        )
    return None


def check_rules(
    ruleset: Ruleset, settings: Settings, valuesets: ValueSets, concepts: ConceptVocabulary
) -> list[Problem]:
    """What a rule's schema cannot say: facts, fields, value sets, concepts, settings, templates."""
    problems: list[Problem] = []
    for rule in ruleset.rules:
        f = ruleset.display(rule.id)
        lines = ruleset.files[rule.id].read_text(encoding="utf-8").splitlines()

        def bad(
            msg: str, near: str = "", rule_id: str = rule.id, file: str = f, text: list[str] = lines
        ) -> None:
            problems.append(Problem(file, _line(text, near), f"{rule_id}: {msg}"))

        citation = citation_problem(rule.citation.url)
        if citation:
            bad(citation, "url:")
        names: dict[str, str] = {}
        for pat in rule.when:
            if pat.fact not in FACT_KINDS:
                bad(f"unknown fact {pat.fact!r}{_did_you_mean(pat.fact, FACT_KINDS)}", f"fact: {pat.fact}")
                continue
            names[pat.name] = pat.fact
            fields = engine_fields(FACT_KINDS[pat.fact])
            if len(pat.any) == 1:
                bad("any: with one alternative: put it in where:", "any:")
            for alt in pat.any:
                if not alt:
                    bad("any: an empty alternative always matches", "any:")
            conditions = [(k, v, pat.where) for k, v in pat.where.items()] + [
                (k, v, alt) for alt in pat.any for k, v in alt.items()
            ]
            seen_by_group: dict[int, dict[str, dict[str, Any]]] = {}
            for fname, cond, group in conditions:
                if fname not in fields:
                    bad(f"fact {pat.fact} has no field {fname!r}{_did_you_mean(fname, fields)}", f"{fname}:")
                    continue
                ann = _field_type(pat.fact, fname)
                allowed = _allowed_values(ann)
                seen = seen_by_group.setdefault(id(group), {}).setdefault(fname, {})
                for op, raw in comparisons(cond):
                    try:
                        value = resolve(raw, settings)
                    except KeyError:
                        bad(
                            f"{fname}: unknown setting {raw.setting!r} (rules/settings.yaml)"
                            if isinstance(raw, SettingRef)
                            else f"{fname}: bad value",
                            raw.setting if isinstance(raw, SettingRef) else f"{fname}:",
                        )
                        continue
                    values = value if isinstance(value, list) else [value]
                    if fname == "valueset":
                        for v in values:
                            if v not in valuesets:
                                bad(
                                    f"unknown value set {v!r} (fhir/valuesets/)"
                                    + _did_you_mean(str(v), list(valuesets.ids())),
                                    str(v),
                                )
                    if allowed is not None:
                        for v in values:
                            if v not in allowed:
                                bad(f"{fname}: {v!r} is not one of {sorted(map(str, allowed))}", f"{fname}:")
                    if op in NUMERIC and (isinstance(value, bool) or not isinstance(value, int | float)):
                        bad(f"{fname}: {op} needs a number, got {value!r}", f"{fname}:")
                    if op == "in" and not values:
                        bad(f"{fname}: empty 'in' list never matches", f"{fname}:")
                    seen[op] = value
            for group_seen in seen_by_group.values():
                for fname, seen in group_seen.items():
                    for m in _contradictions(seen):
                        bad(f"{fname}: {m}", f"{fname}:")
        out = rule.then
        texts: list[str] = []
        if out.finding:
            if out.finding.concept not in concepts:
                bad(
                    f"concept {out.finding.concept!r} is not in the vocabulary (rules/concepts.yaml)"
                    + _did_you_mean(out.finding.concept, concepts.terms()),
                    "concept:",
                )
            texts = [out.finding.summary, out.finding.detail, out.finding.obtain or ""]
        if out.indication:
            texts = [out.indication.reason]
        thresholds = _thresholds(rule, settings)
        for text in texts:
            for path in _SETTING.findall(text):
                try:
                    settings.lookup(path)
                except KeyError:
                    bad(f"template {{settings.{path}}}: no such setting (rules/settings.yaml)", path)
            for number in _NUMBER.findall(_SETTING.sub("", text)):
                setting = thresholds.get(float(number))
                if setting:
                    bad(
                        f"the text states the threshold {number}, which the rule reads from setting "
                        f"{setting}: write {{settings.{setting}}} so text and logic cannot drift",
                        number,
                    )
            for alias, fname in _TEMPLATE.findall(_SETTING.sub("", text)):
                if alias not in names:
                    bad(
                        f"template {{{alias}.{fname}}} names no pattern (patterns: {', '.join(names)})",
                        f"{{{alias}.{fname}}}",
                    )
                elif fname not in engine_fields(FACT_KINDS[names[alias]]):
                    bad(
                        f"template {{{alias}.{fname}}}: fact {names[alias]} has no field {fname!r}"
                        + _did_you_mean(fname, engine_fields(FACT_KINDS[names[alias]])),
                        f"{{{alias}.{fname}}}",
                    )
    return problems


def _thresholds(rule: Rule, settings: Settings) -> dict[float, str]:
    """Numeric values the rule's conditions read from settings: value -> setting path."""
    out: dict[float, str] = {}
    for pat in rule.when:
        for where in (pat.where, *pat.any):
            for cond in where.values():
                for _, raw in comparisons(cond):
                    if isinstance(raw, SettingRef):
                        value = settings.lookup(raw.setting) if _known(settings, raw.setting) else None
                        if isinstance(value, int | float) and not isinstance(value, bool):
                            out[float(value)] = raw.setting
    return out


def _known(settings: Settings, path: str) -> bool:
    try:
        settings.lookup(path)
    except KeyError:
        return False
    return True


def _line(lines: list[str], near: str) -> int | None:
    """The first line of the rule file that contains `near` (1-based), if any; card texts are
    looked for under `then:` first."""
    if not near:
        return None
    then = next((i for i, text in enumerate(lines) if text.startswith("then:")), len(lines))
    for start in (then, 0):
        for i, text in enumerate(lines[start:], start + 1):
            if near in text:
                return i
    return None


def _did_you_mean(word: str, known: Any) -> str:
    close = difflib.get_close_matches(word, sorted(map(str, known)), n=3, cutoff=0.6)
    if close:
        return f"; did you mean {' or '.join(repr(c) for c in close)}?"
    return f" (known: {', '.join(sorted(map(str, known)))})" if len(known) <= 30 else ""


def _contradictions(seen: dict[str, Any]) -> list[str]:
    out = []
    lo = max((v for k, v in seen.items() if k in ("gt", "ge") and isinstance(v, int | float)), default=None)
    hi = min((v for k, v in seen.items() if k in ("lt", "le") and isinstance(v, int | float)), default=None)
    if lo is not None and hi is not None and (lo > hi or (lo == hi and ("gt" in seen or "lt" in seen))):
        out.append(f"contradictory bounds: nothing is above {lo} and below {hi}")
    if "eq" in seen and "in" in seen and seen["eq"] not in seen["in"]:
        out.append(f"contradictory: equals {seen['eq']!r} but must be one of {seen['in']}")
    if "eq" in seen and "ne" in seen and seen["eq"] == seen["ne"]:
        out.append(f"contradictory: equals and differs from {seen['eq']!r}")
    if "eq" in seen and "not_in" in seen and seen["eq"] in seen["not_in"]:
        out.append(f"contradictory: equals {seen['eq']!r} which is excluded by not_in")
    return out


def unbumped_versions(rules: list[Rule], files: dict[str, Path], base: str = "HEAD") -> list[Problem]:
    """Rules whose file differs from git `base` but whose version did not change."""

    problems = []
    if rules:
        _check_revision(files[rules[0].id].parent, base)
    for rule in rules:
        path = files[rule.id]
        try:
            top = subprocess.run(
                ["git", "rev-parse", "--show-toplevel"],
                cwd=path.parent,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            rel = path.resolve().relative_to(Path(top).resolve())
            old = subprocess.run(
                ["git", "show", f"{base}:{rel.as_posix()}"], cwd=top, capture_output=True, text=True
            )
        except (subprocess.CalledProcessError, FileNotFoundError, ValueError):
            return []  # not in git: nothing to compare with
        if old.returncode != 0:
            continue  # new file
        before = yamlio.load(old.stdout) or {}
        now = yamlio.load(path.read_text()) or {}
        if before != now and str(before.get("version")) == rule.version:
            problems.append(
                Problem(
                    str(rel),
                    None,
                    f"{rule.id}: changed since {base} but version {rule.version} was not bumped",
                )
            )
    return problems


def _check_revision(folder: Path, base: str) -> None:
    """An unknown --base must fail loudly: compared with nothing, every rule would look new."""
    try:
        inside = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"], cwd=folder, capture_output=True, text=True
        )
    except FileNotFoundError:
        return  # no git: nothing to compare with
    if inside.returncode != 0:
        return
    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    if known.returncode != 0:
        raise KnowledgeError(f"--base {base}: not a git revision of this repository")
