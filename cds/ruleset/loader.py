"""Parse every rule file under a rules folder into validated `Rule`s, with every problem located
by file and line. All or nothing: one bad file and no ruleset loads. Checks that need the rest of
the knowledge (facts, value sets, settings) are in `lint.py`; `cds.knowledge` runs both."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cds.errors import RuleFileError
from cds.ruleset.problems import Problem
from cds.ruleset.schema import Rule
from cds.settings import TABLE_FILES
from cds.yamlio import compose_and_load

# Files in rules/ that are data for the rules, not rules.
NOT_RULES = frozenset(TABLE_FILES)


@dataclass(frozen=True)
class Ruleset:
    rules: list[Rule]
    files: dict[str, Path]  # rule id -> file
    folder: Path

    def for_profile(self, profile: str) -> list[Rule]:
        return [r for r in self.rules if profile in r.profiles]

    def get(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    @cached_property
    def _by_id(self) -> dict[str, Rule]:
        # every assessment looks up each fired rule: one dict, not a scan of the rules each time
        return {r.id: r for r in self.rules}

    def display(self, rule_id: str) -> str:
        """The rule's file as messages name it (relative to the rules folder's parent)."""
        path = self.files[rule_id]
        return str(path.relative_to(self.folder.parent)) if self.folder.parent in path.parents else str(path)


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
        node, data = compose_and_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [
            Problem(
                display, mark.line + 1 if mark else None, f"not valid YAML: {getattr(exc, 'problem', exc)}"
            )
        ]
    if not isinstance(data, dict):
        return None, [Problem(display, 1, "a rule file holds one rule: a mapping with id, version, ...")]
    operator_problems = _unknown_operators(data, node, display)
    if operator_problems:
        return None, operator_problems  # pydantic's union errors would bury the one real mistake
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


def _unknown_operators(data: dict[str, Any], node: yaml.Node | None, display: str) -> list[Problem]:
    """A condition written with an operator the table does not know, with the list and a guess."""
    import difflib

    from cds.ruleset.operators import OPERATORS

    problems: list[Problem] = []
    when = data.get("when")
    for i, pattern in enumerate(when if isinstance(when, list) else []):
        if not isinstance(pattern, dict):
            continue
        groups: list[tuple[str, int | None, Any]] = [("where", None, pattern.get("where"))]
        alternatives = pattern.get("any")
        groups += [
            ("any", j, alt) for j, alt in enumerate(alternatives if isinstance(alternatives, list) else [])
        ]
        for key, j, where in groups:
            for field_name, cond in (where or {}).items() if isinstance(where, dict) else []:
                if not isinstance(cond, dict) or "setting" in cond:
                    continue
                for op in cond:
                    if op not in OPERATORS:
                        close = difflib.get_close_matches(str(op), list(OPERATORS), n=1, cutoff=0.5)
                        loc = ("when", i, key, *(() if j is None else (j,)), field_name, op)
                        problems.append(
                            Problem(
                                display,
                                _line_of(node, loc),
                                f"{field_name}: unknown operator {op!r}"
                                + (f"; did you mean {close[0]!r}?" if close else "")
                                + f" (operators: {', '.join(OPERATORS)}, or {{setting: ...}} for a value)",
                            )
                        )
    return problems


def rule_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.yaml") if p.name not in NOT_RULES and "tests" not in p.parts)


def load_ruleset(folder: Path) -> Ruleset:
    """Every rule file in `folder`, parsed and schema-checked (RulesetError lists all problems)."""
    rules: list[Rule] = []
    files: dict[str, Path] = {}
    problems: list[Problem] = []
    for path in rule_files(folder):
        display = str(path.relative_to(folder.parent)) if folder.parent in path.parents else str(path)
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
    if problems:
        raise RulesetError(problems)
    return Ruleset(rules=rules, files=files, folder=folder)
