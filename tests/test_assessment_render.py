"""Rule texts rendered from texts compiled once per knowledge (cds/assessment/build.py) read exactly as
the substitution done afresh on every call did, for every text of every rule."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cds.assessment import build
from cds.knowledge import default_knowledge
from cds.ruleset.schema import Lookup

_TEMPLATE = re.compile(r"\{([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\}")
_SETTING = re.compile(r"\{settings\.([a-z_][a-z0-9_.]*)\}")


def _afresh(text: str, views: dict[str, dict[str, Any]], settings: Lookup) -> str:
    """The substitution as it was done on every call before texts were compiled."""

    def sub(m: re.Match[str]) -> str:
        value = views.get(m.group(1), {}).get(m.group(2))
        return "unknown" if value is None else build._fmt(value)

    text = _SETTING.sub(lambda m: build._fmt(settings.lookup(m.group(1))), text)
    return " ".join(_TEMPLATE.sub(sub, text).split())


def _texts() -> list[str]:
    out = []
    for rule in default_knowledge().ruleset.rules:
        if rule.then.indication:
            out.append(rule.then.indication.reason)
        if rule.then.finding:
            spec = rule.then.finding
            out += [spec.summary, spec.detail] + ([spec.obtain] if spec.obtain else [])
    return out


def _views(texts: list[str], value: object) -> dict[str, dict[str, Any]]:
    views: dict[str, dict[str, Any]] = {}
    for text in texts:
        for fact, field in _TEMPLATE.findall(text):
            views.setdefault(fact, {})[field] = value
    return views


@pytest.mark.parametrize(
    "value",
    [None, 3, 2.5, True, "Old myocardial infarction (I25.2,  2010-03-01)\n", "a {patient.age_years} b"],
    ids=["unknown", "int", "float", "bool", "text-with-spaces", "text-like-a-place"],
)
def test_every_rule_text_renders_as_it_did_when_substituted_afresh(value: object) -> None:
    settings = default_knowledge().settings
    texts = _texts()
    assert any("{settings." in t for t in texts) and any(_TEMPLATE.search(t) for t in texts)
    views = _views(texts, value)
    for _ in range(2):  # the second round from the compiled texts
        for text in texts:
            assert build.render(text, views, settings) == _afresh(text, views, settings), text
            assert build.render(text, {}, settings) == _afresh(text, {}, settings), text


class _Settings:
    def __init__(self, days: int) -> None:
        self.days = days

    def lookup(self, dotted: str) -> Any:
        return self.days


def test_a_text_compiled_under_one_settings_is_not_reused_under_another() -> None:
    text = "No reading within {settings.lookback.days} days ({blood_pressure.systolic} mmHg)"
    views = {"blood_pressure": {"systolic": 150}}
    assert build.render(text, views, _Settings(30)) == "No reading within 30 days (150 mmHg)"
    for days in (60, 90, 60):  # new objects, whose ids may be a freed one's
        assert build.render(text, views, _Settings(days)) == f"No reading within {days} days (150 mmHg)"
