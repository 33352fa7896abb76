"""ConditionFacts (one per Condition and matching value set) and the DepressionFact with the
current episode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from cds.contract.facts import ConditionFact, DepressionFact
from cds.facts.fhirdata import parse_date, status_code
from cds.ingest.load import RawResource
from cds.settings import Settings
from cds.terminology import ValueSets

# Value sets matched against Condition.code (drug and observation value sets are not).
CONDITION_VALUESETS = (
    "major-depressive-disorder",
    "depression-unspecified",
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
    "hypertensive-crisis",
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
    "vascular-history-review",
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
                        term=chart_term(data.get("code"), match.code, match.display),
                        onset_text=onset.isoformat() if onset else "undated",
                        recorded_as=recorded_as(data.get("code"), match.code, match.display, onset),
                        status=status,
                        verification=verification,
                        onset=onset,
                        abatement=abatement,
                    )
                )
                break
    return facts


def recorded_as(concept: object, code: str, fallback: str, onset: date | None) -> str:
    """The chart's own words for the entry (the coding's display, else the text), its code and
    date: card text says what the chart says, not the value set's display (issue 13 item 12)."""
    when = onset.isoformat() if onset else "undated"
    return f"{chart_term(concept, code, fallback)} ({code}, {when})"


def chart_term(concept: object, code: str, fallback: str) -> str:
    term = ""
    if isinstance(concept, dict):
        for coding in concept.get("coding") or []:
            if (
                isinstance(coding, dict)
                and coding.get("code") == code
                and isinstance(coding.get("display"), str)
            ):
                term = coding["display"]
                break
        if not term and isinstance(concept.get("text"), str):
            term = concept["text"]
    return term or fallback


@dataclass(frozen=True)
class _Event:
    day: date
    active: bool  # an active episode begins (True) or remission begins (False)
    ref: str
    exact_onset: bool  # the day is a recorded onset, not only a recordedDate


def build_depression(
    conditions: list[ConditionFact], resources: list[RawResource], as_of: date, settings: Settings
) -> DepressionFact:
    """The current episode: start of the active MDD diagnosis; ≥ remission_gap_days in remission
    (a remission diagnosis or an abated MDD diagnosis) before a new active one starts a new episode."""
    mdd = [c for c in conditions if c.valueset == "major-depressive-disorder"]
    remission = [c for c in conditions if c.valueset == "mdd-in-remission"]
    psychosis = [c for c in conditions if c.valueset == "psychosis"]
    events = episode_events(mdd, remission, {r.ref: r for r in resources})
    start, in_remission = current_episode_start(events, timedelta(days=settings.episode.remission_gap_days))
    in_episode = start is not None and not in_remission and mdd_active_now(mdd)
    mdd_codes = {c.code for c in mdd}
    return DepressionFact(
        evidence=sorted({c.evidence[0] for c in mdd + remission}),
        has_mdd=bool(mdd),
        mdd_active=in_episode or (undated_active_mdd(mdd) and not remission),
        episode_start=start.day if in_episode and start else None,
        episode_start_known=bool(in_episode and start and start.exact_onset),
        bipolar=any(c.valueset == "bipolar-disorder" for c in conditions),
        # A resolved or inactive psychotic disorder is history: the psychosis precaution, not an
        # exclusion (issue 13 item 9).
        psychotic_disorder=any(
            c.code not in mdd_codes and c.status in ("active", "unknown") and c.abatement is None
            for c in psychosis
        ),
        unspecified_depression=any(
            c.valueset == "depression-unspecified"
            and c.status in ("active", "unknown")
            and c.abatement is None
            for c in conditions
        ),
        psychotic_features=bool(psychosis),
    )


def episode_events(
    mdd: list[ConditionFact], remission: list[ConditionFact], by_ref: dict[str, RawResource]
) -> list[_Event]:
    """Each dated MDD diagnosis marks an episode beginning at its onset and, when it abated or is
    inactive, remission from its abatement (or onset); each remission diagnosis marks remission."""
    events: list[_Event] = []
    for c in mdd:
        if c.onset is None:
            continue
        ref = c.evidence[0]
        exact = _has_onset(by_ref.get(ref))
        if c.status in ("active", "unknown", "resolved") or c.abatement is not None:
            events.append(_Event(c.onset, True, ref, exact))
        if c.abatement is not None:
            events.append(_Event(c.abatement, False, ref, True))
        elif c.status in ("inactive", "resolved"):
            events.append(_Event(c.onset, False, ref, exact))
    events += [_Event(c.onset, False, c.evidence[0], True) for c in remission if c.onset is not None]
    return sorted(events, key=lambda e: (e.day, e.active))


def current_episode_start(events: list[_Event], gap: timedelta) -> tuple[_Event | None, bool]:
    """The event that began the latest episode, and whether remission has begun since. An active
    event starts a new episode only after at least `gap` in remission."""
    start: _Event | None = None
    remission_since: date | None = None
    for ev in events:
        if ev.active:
            if start is None or (remission_since is not None and ev.day - remission_since >= gap):
                start = ev
            remission_since = None
        elif start is not None and remission_since is None:
            remission_since = ev.day
    return start, remission_since is not None


def mdd_active_now(mdd: list[ConditionFact]) -> bool:
    """Some MDD diagnosis is active (or of unknown status) and not abated."""
    return any(c.status in ("active", "unknown") and c.abatement is None for c in mdd)


def undated_active_mdd(mdd: list[ConditionFact]) -> bool:
    """An active (or unknown-status) MDD diagnosis without any date: active, start unknown."""
    return any(c.onset is None and c.status in ("active", "unknown") for c in mdd)


def _has_onset(res: RawResource | None) -> bool:
    if res is None:
        return False
    return bool(res.data.get("onsetDateTime") or (res.data.get("onsetPeriod") or {}).get("start"))
