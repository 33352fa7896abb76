"""Tables of the audit database. Changing them needs a new migration in migrations/versions/.

Patient data kept: the patient reference only (e.g. "Patient/123"). No names, no FHIR resources.
Card summaries are rule-authored text (the rules must not put patient details in them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cds.audit.db import UtcDateTime

# Explicit constraint names: Alembic migrations and PostgreSQL error messages refer to them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    pass


Base.metadata.naming_convention = NAMING


class HookCall(Base):
    """One CDS Hooks request answered by a service."""

    __tablename__ = "hook_call"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hook_instance: Mapped[str] = mapped_column(String(255), index=True)
    service_id: Mapped[str] = mapped_column(String(255))
    hook: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ruleset_version: Mapped[str] = mapped_column(String(64))
    patient_ref: Mapped[str | None] = mapped_column(String(255))
    latency_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int] = mapped_column(Integer)

    cards: Mapped[list[IssuedCardRow]] = relationship(
        back_populates="hook_call", order_by="IssuedCardRow.position", cascade="all, delete-orphan"
    )


class IssuedCardRow(Base):
    """A card returned in a hook call. ``uuid`` is the card's CDS Hooks uuid, the key feedback uses."""

    __tablename__ = "issued_card"
    __table_args__ = (
        CheckConstraint("indicator IN ('info', 'warning', 'critical')", name="indicator"),
        CheckConstraint("length(summary) <= 140", name="summary_length"),  # CDS Hooks: < 140 chars
    )

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    hook_call_id: Mapped[int] = mapped_column(ForeignKey("hook_call.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    indicator: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(String(140))

    hook_call: Mapped[HookCall] = relationship(back_populates="cards")
    rules: Mapped[list[CardRule]] = relationship(cascade="all, delete-orphan", order_by="CardRule.rule_id")


class CardRule(Base):
    """Which rule(s) produced a card: the unit override rates are reported by."""

    __tablename__ = "card_rule"

    card_uuid: Mapped[str] = mapped_column(
        ForeignKey("issued_card.uuid", ondelete="CASCADE"), primary_key=True
    )
    rule_id: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class Feedback(Base):
    """A CDS Hooks feedback entry for an issued card."""

    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("outcome IN ('accepted', 'overridden')", name="outcome"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(String(255))
    card_uuid: Mapped[str] = mapped_column(ForeignKey("issued_card.uuid", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON)
    override_reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    outcome_timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SeenToken(Base):
    """Replay cache: a JWT's (iss, jti), kept until the token could no longer be accepted."""

    __tablename__ = "seen_token"

    iss: Mapped[str] = mapped_column(String(512), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Report(Base):
    """The report of one decision (its assessment and timeline as JSON, rendered to HTML when opened),
    served at an unguessable URL until it expires."""

    __tablename__ = "report"

    # SHA-256 (hex) of the report id, never the id itself (cds.audit.store.report_key).
    report_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hook_instance: Mapped[str] = mapped_column(String(255), index=True)
    content: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


__all__ = ["NAMING", "Base", "CardRule", "Feedback", "HookCall", "IssuedCardRow", "Report", "SeenToken"]
