from __future__ import annotations

from cds.knowledge import default_knowledge
from cds.ruleset.coverage import gaps


def test_a_rule_needs_a_tagged_firing_and_a_tagged_silent_scenario() -> None:
    rs = default_knowledge().ruleset
    rule = "contraindication.pregnancy"
    everything_else = [{"tags": [r.id], "fired": [r.id]} for r in rs.rules if r.id != rule] + [
        {"tags": [r.id], "fired": []} for r in rs.rules if r.id != rule
    ]
    only_fires = [*everything_else, {"tags": [rule], "fired": [rule]}]
    assert [str(g) for g in gaps(rs, only_fires)] == [f"{rule}: no tagged scenario where it does not fire"]
    untagged = [*everything_else, {"tags": [], "fired": [rule]}, {"tags": [], "fired": []}]
    assert len(gaps(rs, untagged)) == 2
    assert gaps(rs, [*only_fires, {"tags": [rule], "fired": []}]) == []
