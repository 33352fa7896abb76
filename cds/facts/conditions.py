"""ConditionFacts (one per Condition and matching value set) and the DepressionFact with the
current episode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from cds.facts.fhirdata import parse_date, status_code
from cds.facts.models import ConditionFact, DepressionFact
from cds.ingest.load import RawResource
from cds.settings import Settings
from cds.terminology import ValueSets

# Value sets matched against Condition.code (drug and observation value sets are not).
CONDITION_VALUESETS = (
    "major-depressive-disorder",
    "mdd-in-remission",
    "bipolar-disorder",
    "psychosis",
    "substance-use-disorder",
    "aneurysmal-vascular-disease",
    "arteriovenous-malformation",
    "intracerebral-hemorrhage",
    "pregnancy",
    "pregnancy-ended",
    "breastfeeding",
    "hypertension",
    "recent-cardiovascular-event",
    "cardiovascular-disease",
    "cerebrovascular-disease",
    "elevated-intracranial-pressure",
    "glaucoma",
    "hepatic-impairment",
    "hyperthyroidism",
    "respiratory-risk",
    "suicidal-ideation",
    "cognitive-impairment",
    "ascites",
    "hepatic-encephalopathy",
)
_ACTIVE = {"active", "recurrence", "relapse"}
_INACTIVE = {"inactive", "remission"}
_DROP_VERIFICATION = {"refuted", "entered-in-error"}


def build_conditions(resources: list[RawResource], as_of: date, vs: ValueSets) -> list[ConditionFact]:
    facts: list[ConditionFact] = []
    for res in resources:
        data = res.data
        where = f"{res.origin} ({res.ref})"
        hits = vs.match_concept_in(CONDITION_VALUESETS, data.get("code"))
        if not hits:
            continue  # a condition no rule is about
        verification = status_code(data, "verificationStatus") or "unknown"
        if verification in _DROP_VERIFICATION:
            continue
        onset = (
            parse_date(data.get("onsetDateTime"), where=where, field="onsetDateTime")
            or parse_date(
                (data.get("onsetPeriod") or {}).get("start"), where=where, field="onsetPeriod.start"
            )
            or parse_date(data.get("recordedDate"), where=where, field="recordedDate")
        )
        if onset is not None and onset > as_of:
            continue  # not yet happened on the evaluation date
        abatement = parse_date(
            data.get("abatementDateTime"), where=where, field="abatementDateTime"
        ) or parse_date(
            (data.get("abatementPeriod") or {}).get("end"), where=where, field="abatementPeriod.end"
        )
        if abatement is not None and abatement > as_of:
            abatement = None  # still going on the evaluation date
        clinical = status_code(data, "clinicalStatus")
        status = (
            "active"
            if clinical in _ACTIVE
            else "inactive"
            if clinical in _INACTIVE
            else "resolved"
            if clinical == "resolved"
            else "unknown"
        )
        if status == "active" and abatement is not None:
            status = "resolved"
        for vs_id, matches in hits.items():
            for match in matches:
                facts.append(
                    ConditionFact(
                        evidence=[res.ref],
                        valueset=vs_id,
                        code=match.code,
                        display=match.display,
                        status=status,
                        verification=verification,
                        onset=onset,
                        abatement=abatement,
                    )
                )
                break
    return facts


@dataclass(frozen=True)
class _Event:
    day: date
    active: bool
    ref: str
    exact_onset: bool


def build_depression(
    conditions: list[ConditionFact], resources: list[RawResource], as_of: date, settings: Settings
) -> DepressionFact:
    """The current episode: start of the active MDD diagnosis; ≥ remission_gap_days in remission
    (a remission diagnosis or an abated MDD diagnosis) before a new active one starts a new episode."""
    by_ref = {r.ref: r for r in resources}
    mdd = [c for c in conditions if c.valueset == "major-depressive-disorder"]
    remission = [c for c in conditions if c.valueset == "mdd-in-remission"]
    bipolar = [c for c in conditions if c.valueset == "bipolar-disorder"]
    psychosis = [c for c in conditions if c.valueset == "psychosis"]
    mdd_codes = {c.code for c in mdd}
    events: list[_Event] = []
    for c in mdd:
        if c.onset is None:
            continue
        exact = _has_onset(by_ref.get(c.evidence[0]))
        if c.status in ("active", "unknown") or c.abatement is not None or c.status == "resolved":
            events.append(_Event(c.onset, True, c.evidence[0], exact))
        if c.abatement is not None:
            events.append(_Event(c.abatement, False, c.evidence[0], True))
        elif c.status in ("inactive", "resolved"):
            events.append(_Event(c.onset, False, c.evidence[0], exact))
    for c in remission:
        if c.onset is not None:
            events.append(_Event(c.onset, False, c.evidence[0], True))
    events.sort(key=lambda e: (e.day, e.active))
    start: _Event | None = None
    remission_since: date | None = None
    gap = timedelta(days=settings.episode.remission_gap_days)
    for ev in events:
        if ev.active:
            if start is None or (remission_since is not None and ev.day - remission_since >= gap):
                start = ev
            remission_since = None
        elif start is not None and remission_since is None:
            remission_since = ev.day
    active_now = any(c.status in ("active", "unknown") and c.abatement is None for c in mdd)
    in_episode = start is not None and remission_since is None and active_now
    undated_active = any(c.onset is None and c.status in ("active", "unknown") for c in mdd)
    evidence = sorted({c.evidence[0] for c in mdd + remission})
    return DepressionFact(
        evidence=evidence,
        has_mdd=bool(mdd),
        mdd_active=in_episode or (undated_active and not remission),
        episode_start=start.day if in_episode and start else None,
        episode_start_known=bool(in_episode and start and start.exact_onset),
        bipolar=bool(bipolar),
        psychotic_disorder=any(c.code not in mdd_codes for c in psychosis),
        psychotic_features=bool(psychosis),
    )


def _has_onset(res: RawResource | None) -> bool:
    if res is None:
        return False
    return bool(res.data.get("onsetDateTime") or (res.data.get("onsetPeriod") or {}).get("start"))
