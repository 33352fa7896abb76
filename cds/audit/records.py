"""What the service hands to the audit store, and what the store's reports return.

`HookCallRecord` is the one record of a hook call, built by the route and written by the store
(with its cards and, when there is one, its report); `AuditSink` is what the service needs of a store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from cds.security.replay import TokenUse

Indicator = Literal["info", "warning", "critical"]
Outcome = Literal["accepted", "overridden"]
Id = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IssuedCard(_Record):
    uuid: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    rule_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]]
    indicator: Indicator
    summary: Annotated[str, StringConstraints(max_length=140)]  # CDS Hooks: under 140 characters


class ReportRecord(_Record):
    """A decision's report, stored with its hook call: the assessment and timeline behind it as JSON
    (`content`), rendered to HTML only when the page is opened (few are). The random id is its only
    credential; the store keeps a hash of it, never the id."""

    # At least 128 random bits (22 base64url characters): a shorter id could be guessed.
    report_id: Annotated[str, StringConstraints(min_length=22, max_length=128)]
    content: str
    expires_at: AwareDatetime


class HookCallRecord(_Record):
    hook_instance: Id
    service_id: Id
    hook: Id
    at: AwareDatetime
    ruleset_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    patient_ref: Annotated[str, StringConstraints(max_length=255)] | None  # e.g. context.patientId
    cards: list[IssuedCard] = Field(default_factory=list)
    latency_ms: Annotated[float, Field(ge=0)]
    status_code: int
    # Written in the same transaction as the call: a call that is not recorded leaves no report.
    report: ReportRecord | None = None
    # The client token's use, recorded in the same transaction (its replay cache entry): a replayed
    # token makes the write fail (AuthError) and the call unanswered. None: recorded at verification.
    token: TokenUse | None = None


class FeedbackRecord(_Record):
    service_id: Id
    card_uuid: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    outcome: Outcome
    accepted_suggestions: list[str] = Field(default_factory=list)
    # CDS Hooks overrideReason: {"reason": Coding, "userComment": str}. Stored without the comment's
    # text (free text typed by a clinician may name the patient): see AuditStore.record_feedback.
    override_reason: dict[str, Any] | None = None
    outcome_timestamp: AwareDatetime
    received_at: AwareDatetime


@dataclass(frozen=True)
class CardDecision:
    uuid: str
    indicator: str
    summary: str
    rule_ids: list[str]
    outcome: str | None  # the latest feedback's outcome, None without feedback


@dataclass(frozen=True)
class Decision:
    at: datetime
    hook_instance: str
    service_id: str
    hook: str
    patient_ref: str | None
    ruleset_version: str
    status_code: int
    latency_ms: float
    cards: list[CardDecision]


@dataclass(frozen=True)
class RuleOverrideRate:
    rule_id: str
    cards_issued: int
    feedback_count: int
    overridden_count: int

    @property
    def rate(self) -> float | None:
        """Overridden / feedback received; None when no feedback came back for this rule's cards."""
        return self.overridden_count / self.feedback_count if self.feedback_count else None


class AuditSink(Protocol):
    """The audit store as the service uses it (`cds.audit.store.AuditStore`; a fake in tests)."""

    def record_hook_call(self, rec: HookCallRecord) -> None: ...

    def card_service(self, uuid: str) -> str | None: ...

    def record_feedback(self, rec: FeedbackRecord) -> None: ...

    def get_report(self, report_id: str, now: datetime) -> str | None: ...

    def ping(self) -> None: ...
