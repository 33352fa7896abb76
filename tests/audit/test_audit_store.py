"""AuditStore on SQLite and PostgreSQL: decisions, atomicity, feedback, rates, replay cache, reports."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, func, select, text

from cds.audit.models import CardRule, Feedback, HookCall, IssuedCardRow, Report
from cds.audit.records import ReportRecord
from cds.audit.store import AuditError, AuditStore, FeedbackRecord, HookCallRecord, IssuedCard
from cds.errors import AuthError
from cds.security.replay import TokenUse

T0 = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[AuditStore]:
    s = AuditStore(db_url)
    yield s
    s.close()


def card(
    uuid: str, *rules: str, indicator: str = "warning", summary: str = "Check blood pressure"
) -> IssuedCard:
    return IssuedCard(uuid=uuid, rule_ids=list(rules), indicator=indicator, summary=summary)  # type: ignore[arg-type]


def call(
    instance: str, *cards: IssuedCard, at: datetime = T0, patient: str | None = "Patient/p1"
) -> HookCallRecord:
    return HookCallRecord(
        hook_instance=instance,
        service_id="ketamine-order-sign",
        hook="order-sign",
        at=at,
        ruleset_version="2025.06.1",
        patient_ref=patient,
        cards=list(cards),
        latency_ms=12.5,
        status_code=200,
    )


def feedback(card_uuid: str, outcome: str, **extra: Any) -> FeedbackRecord:
    return FeedbackRecord(
        service_id="ketamine-order-sign",
        card_uuid=card_uuid,
        outcome=outcome,  # type: ignore[arg-type]
        outcome_timestamp=T0 + timedelta(minutes=1),
        received_at=T0 + timedelta(minutes=1, seconds=2),
        **extra,
    )


def count(db_url: str, model: type[Any]) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        engine.dispose()


# --- decisions -------------------------------------------------------------------------------------


def test_hook_call_round_trips_with_cards_rules_and_utc_time(store: AuditStore) -> None:
    at = datetime(2025, 6, 2, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    store.record_hook_call(
        call("h1", card("c1", "bp-high", "rems"), card("c2", "driving", indicator="info"), at=at)
    )
    [decision] = store.recent_decisions()
    assert decision.at == T0 and decision.at.tzinfo == UTC  # 11:30+02:00 is 09:30Z
    assert (decision.hook_instance, decision.patient_ref, decision.ruleset_version) == (
        "h1",
        "Patient/p1",
        "2025.06.1",
    )
    assert [(c.uuid, c.indicator, c.rule_ids, c.outcome) for c in decision.cards] == [
        ("c1", "warning", ["bp-high", "rems"], None),
        ("c2", "info", ["driving"], None),
    ]
    assert store.card_service("c2") == "ketamine-order-sign"
    assert store.card_service("never-issued") is None


def test_recent_decisions_newest_first_and_limited(store: AuditStore) -> None:
    for i in range(5):
        store.record_hook_call(call(f"h{i}", at=T0 + timedelta(minutes=i)))
    assert [d.hook_instance for d in store.recent_decisions(limit=3)] == ["h4", "h3", "h2"]


def test_failure_mid_way_leaves_no_rows(store: AuditStore, db_url: str) -> None:
    store.record_hook_call(call("first", card("dup", "bp-high")))
    # Second card repeats a uuid already in the database: the INSERT of that card row fails after the
    # hook_call row and the first card (with its rule rows) were already sent in the same transaction.
    with pytest.raises(AuditError, match="record_hook_call: refused by the database"):
        store.record_hook_call(call("second", card("fresh", "rems"), card("dup", "driving")))
    assert [d.hook_instance for d in store.recent_decisions()] == ["first"]
    assert store.card_service("fresh") is None
    assert count(db_url, HookCall) == 1
    assert count(db_url, IssuedCardRow) == 1
    assert count(db_url, CardRule) == 1


def test_database_constraint_rejects_what_validation_would_have(store: AuditStore, db_url: str) -> None:
    # model_construct skips pydantic validation: this is what a bug upstream would hand us. The CHECK
    # constraint in the schema still refuses it, and the whole call is rolled back.
    bogus = IssuedCard.model_construct(uuid="c9", rule_ids=["r"], indicator="urgent", summary="s")
    with pytest.raises(AuditError, match="refused by the database"):
        store.record_hook_call(call("h9", card("c8", "r"), bogus))
    assert count(db_url, HookCall) == 0
    assert count(db_url, IssuedCardRow) == 0


def test_records_refuse_bad_values_early() -> None:
    with pytest.raises(ValidationError):
        call("h", at=datetime(2025, 6, 2, 9, 30))  # naive: which time zone?
    with pytest.raises(ValidationError):
        card("c", "r", summary="x" * 141)
    with pytest.raises(ValidationError):
        card("c", "r", indicator="urgent")


# --- feedback and override rates -------------------------------------------------------------------


def test_override_rates_per_rule(store: AuditStore) -> None:
    store.record_hook_call(call("h1", card("c1", "bp-high", "rems"), card("c2", "driving")))
    store.record_hook_call(call("h2", card("c3", "bp-high")))
    store.record_feedback(feedback("c1", "overridden"))
    store.record_feedback(feedback("c3", "accepted", accepted_suggestions=["s1"]))
    rates = {r.rule_id: r for r in store.override_rates()}
    assert set(rates) == {"bp-high", "rems", "driving"}
    assert (
        rates["bp-high"].cards_issued,
        rates["bp-high"].feedback_count,
        rates["bp-high"].overridden_count,
    ) == (
        2,
        2,
        1,
    )
    assert rates["bp-high"].rate == 0.5
    assert rates["rems"].rate == 1.0
    assert rates["driving"].rate is None  # no feedback: no rate, not 0 %
    [_h2, h1] = store.recent_decisions()
    assert [c.outcome for c in h1.cards] == ["overridden", None]


def test_feedback_for_a_card_we_never_issued_is_refused(store: AuditStore, db_url: str) -> None:
    with pytest.raises(AuditError, match="record_feedback"):
        store.record_feedback(feedback("unknown-card", "accepted"))
    assert count(db_url, Feedback) == 0


def test_override_comment_text_is_not_stored(store: AuditStore, db_url: str) -> None:
    store.record_hook_call(call("h1", card("c1", "bp-high")))
    reason = {
        "reason": {
            "system": "https://example.org/override",
            "code": "patient-declined",
            "display": "Declined",
        },
        "userComment": "Ann Example said her BP is always high at the clinic",
    }
    store.record_feedback(feedback("c1", "overridden", override_reason=reason))
    engine = create_engine(db_url)
    with engine.connect() as connection:
        stored = connection.scalar(text("SELECT override_reason FROM feedback"))
    engine.dispose()
    stored_text = stored if isinstance(stored, str) else repr(stored)
    assert "Ann" not in stored_text
    assert "patient-declined" in stored_text and "userCommentGiven" in stored_text


# --- replay cache ----------------------------------------------------------------------------------


def test_replay_cache_is_shared_by_two_workers_on_one_database(db_url: str) -> None:
    worker_a, worker_b = AuditStore(db_url), AuditStore(db_url)
    try:
        exp = datetime.now(UTC) + timedelta(minutes=5)
        cache_a, cache_b = worker_a.replay_cache(), worker_b.replay_cache()
        assert cache_a.seen("https://ehr.example.org", "jti-1", exp) is False
        assert cache_b.seen("https://ehr.example.org", "jti-1", exp) is True  # the other worker saw it
        assert cache_a.seen("https://ehr.example.org", "jti-1", exp) is True
        assert cache_b.seen("https://other-ehr.example.org", "jti-1", exp) is False  # per issuer
    finally:
        worker_a.close()
        worker_b.close()


def test_expired_replay_entry_does_not_block_and_is_purged(store: AuditStore, db_url: str) -> None:
    cache = store.replay_cache()
    past = datetime.now(UTC) - timedelta(seconds=1)
    assert cache.seen("iss", "old", past) is False
    assert cache.seen("iss", "old", datetime.now(UTC) + timedelta(minutes=5)) is False  # expired: new again
    assert cache.seen("iss", "gone", past) is False
    other_worker = AuditStore(db_url)  # another worker's cache purges on its first use
    other_worker.replay_cache().seen("iss", "another", datetime.now(UTC) + timedelta(minutes=5))
    other_worker.close()
    engine = create_engine(db_url)
    with engine.connect() as connection:
        rows = set(connection.execute(text("SELECT jti FROM seen_token")).scalars())
    engine.dispose()
    assert rows == {"old", "another"}


def test_a_token_use_is_recorded_with_its_call_and_a_second_use_writes_nothing(
    store: AuditStore, db_url: str
) -> None:
    use = TokenUse("https://ehr.test", "jti-1", datetime.now(UTC) + timedelta(minutes=5))
    store.record_hook_call(call("h1", card("c1")).model_copy(update={"token": use}))
    assert store.replay_cache().recorded(use.iss, use.jti)
    # Two calls with one token that both passed verification: the second to be written is refused.
    with pytest.raises(AuthError, match="replay"):
        store.record_hook_call(call("h2", card("c2")).model_copy(update={"token": use}))
    assert count(db_url, HookCall) == 1
    assert count(db_url, IssuedCardRow) == 1
    # A token recorded at verification (`seen`) is refused in the call's write too, and the other way round.
    later = TokenUse("https://ehr.test", "jti-2", datetime.now(UTC) + timedelta(minutes=5))
    assert store.replay_cache().seen(later.iss, later.jti, later.expires_at) is False
    with pytest.raises(AuthError):
        store.record_hook_call(call("h3").model_copy(update={"token": later}))
    assert store.replay_cache().seen(use.iss, use.jti, use.expires_at) is True


# --- reports ---------------------------------------------------------------------------------------


def with_report(instance: str, report_id: str, html: str, expires_at: datetime) -> HookCallRecord:
    report = ReportRecord(report_id=report_id, content=html, expires_at=expires_at)
    return call(instance).model_copy(update={"report": report})


def test_report_is_served_until_it_expires(store: AuditStore) -> None:
    rid = "Zq3v9yXo1bQw8rT2mN5kP7sA"
    store.record_hook_call(with_report("h1", rid, "<h1>Decision</h1>", T0 + timedelta(hours=1)))
    assert store.get_report(rid, now=T0) == "<h1>Decision</h1>"
    assert store.get_report(rid, now=T0 + timedelta(minutes=59)) == "<h1>Decision</h1>"
    assert store.get_report(rid, now=T0 + timedelta(hours=1)) is None
    assert store.get_report("X" * 24, now=T0) is None


def test_report_id_is_stored_hashed_never_as_sent(store: AuditStore, db_url: str) -> None:
    """A copy of the database (backup, replica) must not hold working report URLs."""
    rid = "Zq3v9yXo1bQw8rT2mN5kP7sA"
    store.record_hook_call(with_report("h1", rid, "<p>r</p>", T0 + timedelta(hours=1)))
    engine = create_engine(db_url)
    with engine.connect() as connection:
        [key] = connection.execute(text("SELECT report_id FROM report")).scalars()
    engine.dispose()
    assert key != rid and rid not in key
    assert key == hashlib.sha256(rid.encode()).hexdigest()
    assert store.get_report(key, now=T0) is None  # the stored key is not itself a credential


def test_expired_reports_are_deleted_when_a_report_is_saved(store: AuditStore, db_url: str) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=1)
    store.record_hook_call(with_report("h1", "a" * 24, "<p>old</p>", long_ago))
    # Another worker (a fresh store) purges on its first save.
    other = AuditStore(db_url)
    other.record_hook_call(with_report("h2", "b" * 24, "<p>new</p>", datetime.now(UTC) + timedelta(hours=1)))
    assert count(db_url, Report) == 1
    # Within the minute this worker does not purge again; once it has passed, it does.
    store.record_hook_call(with_report("h3", "c" * 24, "<p>old</p>", long_ago))
    other.record_hook_call(with_report("h4", "d" * 24, "<p>new</p>", datetime.now(UTC) + timedelta(hours=1)))
    assert count(db_url, Report) == 3
    other._reports_purged = datetime.now(UTC) - timedelta(minutes=2)
    other.record_hook_call(with_report("h5", "e" * 24, "<p>new</p>", datetime.now(UTC) + timedelta(hours=1)))
    assert count(db_url, Report) == 3  # h3 gone, h5 added
    other.close()


def test_guessable_report_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 22"):
        ReportRecord(report_id="1234", content="{}", expires_at=T0)
