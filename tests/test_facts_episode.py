"""The current episode: start of the active MDD diagnosis; ≥ 2 months of remission starts a new one."""

from __future__ import annotations

from datetime import date

from cds.facts.build import build_facts
from cds.ingest.load import flatten
from cds.knowledge import default_knowledge
from cds.synthetic import PatientBuilder

AS_OF = date(2025, 6, 2)


def depression(*conditions: dict) -> object:
    p = PatientBuilder("1980-01-01", pid="e")
    for c in conditions:
        p.condition(**c)
    return build_facts(flatten(p.bundle()), default_knowledge(), AS_OF).depression


def test_active_mdd_starts_the_episode_at_its_onset() -> None:
    d = depression({"code": "F33.1", "onset": "2024-09-01"})
    assert d.mdd_active and d.episode_start == date(2024, 9, 1) and d.episode_start_known


def test_two_months_in_remission_start_a_new_episode() -> None:
    d = depression(
        {"code": "F32.1", "onset": "2020-01-01", "status": "resolved", "abatement": "2021-06-01"},
        {"code": "F33.1", "onset": "2024-09-01"},
    )
    assert d.episode_start == date(2024, 9, 1)


def test_a_short_remission_does_not_split_the_episode() -> None:
    d = depression(
        {"code": "F32.1", "onset": "2024-01-01", "status": "resolved", "abatement": "2024-08-01"},
        {"code": "F33.1", "onset": "2024-09-01"},
    )
    assert d.episode_start == date(2024, 1, 1)


def test_remission_code_as_the_latest_record_means_no_current_episode() -> None:
    d = depression(
        {"code": "F33.1", "onset": "2022-01-01", "status": "resolved", "abatement": "2023-01-01"},
        {"code": "F33.42", "onset": "2023-01-01"},
    )
    assert not d.mdd_active and d.has_mdd


def test_recorded_date_only_gives_an_upper_bound_start() -> None:
    d = depression({"code": "F33.1", "recorded": "2024-09-01"})
    assert d.mdd_active and d.episode_start == date(2024, 9, 1) and not d.episode_start_known


def test_bipolar_and_primary_psychosis_are_flagged_but_psychotic_features_are_not_a_psychotic_disorder() -> (
    None
):
    d = depression({"code": "F33.3", "onset": "2024-09-01"})
    assert d.psychotic_features and not d.psychotic_disorder
    d = depression(
        {"code": "F33.1", "onset": "2024-09-01"},
        {"code": "F20.0", "onset": "2010-01-01"},
        {"code": "F31.32", "onset": "2012-01-01", "status": "inactive"},
    )
    assert d.psychotic_disorder and d.bipolar
