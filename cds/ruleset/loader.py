"""Load every rule file under rules/, validate it, and check it against the facts catalogue,
the value sets, the concept vocabulary and the settings. All or nothing: one bad file and no
ruleset loads, with every problem reported by file and line."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cds.errors import RuleFileError
from cds.paths import rules_dir
from cds.ruleset.schema import Comparison, Rule, SettingRef
from cds.settings import Settings, load_settings

# Files in rules/ that are data for the rules, not rules.
NOT_RULES = {
    "settings.yaml",
    "antidepressant-doses.yaml",
    "outcomes.yaml",
    "benzodiazepine-equivalents.yaml",
    "product-strengths.yaml",
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


@dataclass
class Ruleset:
    rules: list[Rule]
    files: dict[str, Path]  # rule id -> file
    version: str
    settings: Settings
    digest: str = field(default="")

    def for_profile(self, profile: str) -> list[Rule]:
        return [r for r in self.rules if profile in r.profiles]

    def get(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)


class RulesetError(RuleFileError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(
            first.message + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
            file=first.file,
            line=first.line,
        )


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to a line number."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next(
                (v for k, v in node.value if k.value == part or (part == "in_" and k.value == "in")), None
            )
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            continue
        line = node.start_mark.line + 1
    return line


def parse_rule_file(path: Path, display: str) -> tuple[Rule | None, list[Problem]]:
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [
            Problem(
                display, mark.line + 1 if mark else None, f"not valid YAML: {getattr(exc, 'problem', exc)}"
            )
        ]
    if not isinstance(data, dict):
        return None, [Problem(display, 1, "a rule file holds one rule: a mapping with id, version, ...")]
    try:
        return Rule.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(
                p
                for p in err["loc"]
                if not (
                    isinstance(p, str) and p in ("str", "int", "float", "bool", "Comparison", "SettingRef")
                )
            )
            where = ".".join(str(p) for p in loc) or "(rule)"
            problems.append(Problem(display, _line_of(node, loc), f"{where}: {err['msg']}"))
        return None, problems


def rule_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.yaml") if p.name not in NOT_RULES and "tests" not in p.parts)


def load_ruleset(folder: Path | None = None, *, check: bool = True) -> Ruleset:
    folder = folder or rules_dir()
    settings = load_settings(folder)
    rules: list[Rule] = []
    files: dict[str, Path] = {}
    problems: list[Problem] = []
    digest = hashlib.sha256()
    for path in rule_files(folder):
        display = str(path.relative_to(folder.parent)) if folder.parent in path.parents else str(path)
        digest.update(path.read_bytes())
        rule, errs = parse_rule_file(path, display)
        problems.extend(errs)
        if rule is None:
            continue
        if rule.id in files:
            problems.append(Problem(display, 1, f"duplicate rule id {rule.id} (also in {files[rule.id]})"))
            continue
        files[rule.id] = path
        rules.append(rule)
    if not rules and not problems:
        problems.append(Problem(str(folder), None, "no rule files"))
    if check and not problems:
        from cds.ruleset.lint import check_rules

        problems.extend(check_rules(rules, files, settings, folder))
    if problems:
        raise RulesetError(problems)
    version = _ruleset_version(folder)
    return Ruleset(
        rules=rules, files=files, version=version, settings=settings, digest=digest.hexdigest()[:12]
    )


def _ruleset_version(folder: Path) -> str:
    meta = folder / "settings.yaml"
    data = yaml.safe_load(meta.read_text()) if meta.exists() else {}
    return str((data or {}).get("ruleset_version", "0.0.0"))


def resolve(value: Any, settings: Settings) -> Any:
    """A condition value with {setting: ...} references replaced by the settings' values."""
    if isinstance(value, SettingRef):
        return settings.lookup(value.setting)
    if isinstance(value, list):
        return [resolve(v, settings) for v in value]
    return value


def comparisons(where_value: Any) -> list[tuple[str, Any]]:
    if isinstance(where_value, Comparison):
        return where_value.items()
    return [("eq", where_value)]
