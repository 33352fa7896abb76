"""The service's side of auditing: what it records, and the adapter onto `cds.audit.store`.

The routes talk to an `AuditSink`; `StoreSink` forwards to the audit package's `AuditStore`
(database, Alembic-managed schema). The seam keeps the HTTP layer testable without a database
and keeps the audit record's shape decided in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class CardIssued:
    uuid: str
    rule_ids: tuple[str, ...]
    indicator: str
    summary: str


@dataclass(frozen=True)
class StoredReport:
    """A decision's HTML report; its random id is the only credential protecting it."""

    report_id: str
    html: str
    expires_at: datetime


@dataclass(frozen=True)
class HookCall:
    hook_instance: str
    service_id: str
    hook: str
    at: datetime
    ruleset_version: str
    patient_ref: str | None
    cards: tuple[CardIssued, ...]
    latency_ms: int
    status_code: int
    # Written in the same transaction as the call: a call that is not recorded leaves no report.
    report: StoredReport | None = None


@dataclass(frozen=True)
class Feedback:
    service_id: str
    card_uuid: str
    outcome: str
    accepted_suggestions: tuple[str, ...]
    override_reason: dict[str, Any] | None
    outcome_timestamp: datetime
    received_at: datetime


class AuditSink(Protocol):
    def record_hook_call(self, call: HookCall) -> None: ...

    def card_service(self, uuid: str) -> str | None: ...

    def record_feedback(self, feedback: Feedback) -> None: ...

    def get_report(self, report_id: str, now: datetime) -> str | None: ...


class StoreSink:
    """`AuditSink` over `cds.audit.store.AuditStore` (each call is one transaction there)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    @classmethod
    def open(cls, database_url: str) -> StoreSink:
        from cds.audit.store import AuditStore

        return cls(AuditStore(database_url))

    def record_hook_call(self, call: HookCall) -> None:
        from cds.audit.store import HookCallRecord, IssuedCard, ReportRecord

        report = (
            None
            if call.report is None
            else ReportRecord(
                report_id=call.report.report_id, html=call.report.html, expires_at=call.report.expires_at
            )
        )

        self.store.record_hook_call(
            HookCallRecord(
                hook_instance=call.hook_instance,
                service_id=call.service_id,
                hook=call.hook,
                at=call.at,
                ruleset_version=call.ruleset_version,
                patient_ref=call.patient_ref,
                cards=[
                    IssuedCard(
                        uuid=c.uuid, rule_ids=list(c.rule_ids), indicator=c.indicator, summary=c.summary
                    )
                    for c in call.cards
                ],
                latency_ms=call.latency_ms,
                status_code=call.status_code,
            ),
            report,
        )

    def card_service(self, uuid: str) -> str | None:
        result = self.store.card_service(uuid)
        return None if result is None else str(result)

    def record_feedback(self, feedback: Feedback) -> None:
        from cds.audit.store import FeedbackRecord

        self.store.record_feedback(
            FeedbackRecord(
                service_id=feedback.service_id,
                card_uuid=feedback.card_uuid,
                outcome=feedback.outcome,
                accepted_suggestions=list(feedback.accepted_suggestions),
                override_reason=feedback.override_reason,
                outcome_timestamp=feedback.outcome_timestamp,
                received_at=feedback.received_at,
            )
        )

    def get_report(self, report_id: str, now: datetime) -> str | None:
        result = self.store.get_report(report_id, now)
        return None if result is None else str(result)

    def replay_cache(self) -> Any:
        return self.store.replay_cache()
