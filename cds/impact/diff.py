"""What differs between two versions of the knowledge: settings by dotted name, rules by id (with
their versions, so an unbumped change shows), and any other knowledge file by path."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cds.impact.model import KnowledgeChanges, RuleChange, SettingChange
from cds.knowledge import Knowledge


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # as the YAML states it: 6, not 6.0
    return {prefix: str(value)}


def _file_digests(folder: Path, skip: frozenset[str]) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).parts[0] not in skip
    }


def knowledge_changes(base: Knowledge, changed: Knowledge) -> KnowledgeChanges:
    before, after = (
        _flatten(base.settings.model_dump(mode="json")),
        _flatten(changed.settings.model_dump(mode="json")),
    )
    settings = [
        SettingChange(setting=k, before=before.get(k), after=after.get(k))
        for k in sorted(before.keys() | after.keys())
        if before.get(k) != after.get(k)
    ]
    old = {r.id: r for r in base.ruleset.rules}
    new = {r.id: r for r in changed.ruleset.rules}
    rules: list[RuleChange] = []
    for rid in sorted(old.keys() | new.keys()):
        a, b = old.get(rid), new.get(rid)
        if a is not None and b is not None and a.model_dump() == b.model_dump():
            continue
        kind = "added" if a is None else "removed" if b is None else "changed"
        where = changed.ruleset.display(rid) if b is not None else base.ruleset.display(rid)
        rules.append(
            RuleChange(
                rule=rid,
                change=kind,
                version_before=a.version if a else None,
                version_after=b.version if b else None,
                file=where,
            )
        )
    # Every other knowledge file (value sets, tables, vocabularies), by content.
    rule_files = {p.resolve() for p in [*base.ruleset.files.values(), *changed.ruleset.files.values()]}
    files: list[str] = []
    for label, a_dir, b_dir, skip in (
        ("rules", base.rules_dir, changed.rules_dir, frozenset[str]()),
        ("fhir", base.fhir_dir, changed.fhir_dir, frozenset({"examples"})),
    ):
        da, db = _file_digests(a_dir, skip), _file_digests(b_dir, skip)
        for rel in sorted(da.keys() | db.keys()):
            if da.get(rel) == db.get(rel) or (label == "rules" and rel == "settings.yaml"):
                continue
            if (a_dir / rel).resolve() in rule_files or (b_dir / rel).resolve() in rule_files:
                continue
            files.append(f"{label}/{rel}")
    return KnowledgeChanges(settings=settings, rules=rules, files=files)
