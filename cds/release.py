"""The release lock: what a governance committee released, so that an unreviewed change cannot pass.

`rules/release.yaml` records, at a release, every rule's version and the hash of its content, and
the hash of every other knowledge file (settings, tables, concept vocabulary, value sets, code
tables) with the ruleset version. `cds rules lint` (and so `make test` and CI) compares the working
knowledge with it, without any git history:

- a rule whose content differs from the lock must carry a higher version than the locked one;
- any other knowledge file that differs from the lock needs a new `ruleset_version` in
  `rules/settings.yaml`;
- `cds rules release` rewrites the lock once the committee has signed the changes off.

Hashes are over parsed content (YAML/JSON as canonical JSON), so reformatting or a comment is not a
change; a rule's hash leaves out its own version.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cds import yamlio
from cds.errors import RuleFileError
from cds.knowledge import Knowledge, knowledge_files
from cds.ruleset.problems import Problem
from cds.ruleset.schema import Rule

LOCK_NAME = "release.yaml"


class LockedRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    hash: str


class ReleaseLock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ruleset_version: str
    released: date
    rules: dict[str, LockedRule]
    files: dict[str, str]  # knowledge file (rules/..., fhir/...) -> content hash


def _digest(data: Any) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def rule_hash(rule: Rule) -> str:
    return _digest(rule.model_dump(mode="json", by_alias=True, exclude={"version"}))


def file_hash(path: Path) -> str:
    raw = path.read_bytes()
    try:
        if path.suffix in (".yaml", ".yml"):
            data = yamlio.load(raw)
            if path.name == "settings.yaml" and isinstance(data, dict):
                data = {k: v for k, v in data.items() if k != "ruleset_version"}
            return _digest(data)
        if path.suffix == ".json":
            return _digest(orjson.loads(raw))
    except (yaml.YAMLError, orjson.JSONDecodeError):
        pass  # unparsable: its bytes are its content (the loaders report it)
    return hashlib.sha256(raw).hexdigest()[:16]


def _tracked_files(kb: Knowledge) -> dict[str, Path]:
    rule_paths = {p.resolve() for p in kb.ruleset.files.values()}
    return {
        label: path
        for label, path in knowledge_files(kb.rules_dir, kb.fhir_dir)
        if path.resolve() not in rule_paths and not (label.startswith("rules/") and path.name == LOCK_NAME)
    }


def current_lock(kb: Knowledge, released: date | None = None) -> ReleaseLock:
    return ReleaseLock(
        ruleset_version=kb.version,
        released=released or date.today(),
        rules={r.id: LockedRule(version=r.version, hash=rule_hash(r)) for r in kb.ruleset.rules},
        files={label: file_hash(path) for label, path in sorted(_tracked_files(kb).items())},
    )


def read_lock(path: Path) -> ReleaseLock | None:
    if not path.exists():
        return None
    try:
        return ReleaseLock.model_validate(yamlio.load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise RuleFileError(f"not a release lock: {exc}".splitlines()[0], file=str(path)) from exc


def write_lock(kb: Knowledge, path: Path) -> ReleaseLock:
    lock = current_lock(kb)
    header = (
        "# The release lock, written by `cds rules release` when the committee releases the knowledge.\n"
        "# Do not edit by hand: `cds rules lint` compares every rule and knowledge file with it.\n"
    )
    body = yaml.safe_dump(lock.model_dump(mode="json"), sort_keys=True, allow_unicode=True, width=110)
    path.write_text(header + body, encoding="utf-8")
    return lock


def _semver(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def check_release(kb: Knowledge, path: Path | None = None) -> list[Problem]:
    """Changes since the release lock that did not bump the version they need."""
    path = path or kb.rules_dir / LOCK_NAME
    lock = read_lock(path)
    if lock is None:
        return [Problem(str(path), None, "no release lock: run `cds rules release` to write one")]
    problems: list[Problem] = []
    for rule in kb.ruleset.rules:
        locked = lock.rules.get(rule.id)
        if locked is None:
            continue  # a new rule: released with the next release
        where = kb.ruleset.display(rule.id)
        if rule_hash(rule) != locked.hash and _semver(rule.version) <= _semver(locked.version):
            problems.append(
                Problem(
                    where,
                    2,
                    f"{rule.id}: changed since release {lock.ruleset_version} but version {rule.version} "
                    f"was not bumped (released as {locked.version}): raise `version:`",
                )
            )
        elif _semver(rule.version) < _semver(locked.version):
            problems.append(
                Problem(where, 2, f"{rule.id}: version {rule.version} is below the released {locked.version}")
            )
    if kb.version == lock.ruleset_version:
        for label, file in sorted(_tracked_files(kb).items()):
            if lock.files.get(label) != file_hash(file):
                what = "added" if label not in lock.files else "changed"
                problems.append(
                    Problem(
                        label,
                        None,
                        f"{what} since release {lock.ruleset_version} but ruleset_version was not bumped: "
                        "raise ruleset_version in rules/settings.yaml, then `cds rules release` once approved",
                    )
                )
        for label in sorted(set(lock.files) - set(_tracked_files(kb))):
            problems.append(
                Problem(label, None, f"removed since release {lock.ruleset_version}: raise ruleset_version")
            )
    return problems
