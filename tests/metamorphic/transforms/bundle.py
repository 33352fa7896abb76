"""Bundle-level re-encodings every FHIR source produces: order, ids, references."""

from __future__ import annotations

from tests.metamorphic.harness import Assessment, Changing, Preserving, Resources


def reverse_order(resources: Resources) -> Resources:
    # A searchset may list resources in any order.
    return list(reversed(resources))


def drop_treatment_history(resources: Resources) -> Resources:
    return [r for r in resources if not r["resourceType"].startswith("Medication")]


def _no_longer_eligible(before: Assessment, after: Assessment) -> None:
    assert before.indication.status == "eligible"
    assert after.indication.status != "eligible", "eligible with no antidepressant trial on record"


PRESERVING = [Preserving("resources in reverse order", reverse_order)]
CHANGING = [Changing("no antidepressant history", drop_treatment_history, _no_longer_eligible)]
