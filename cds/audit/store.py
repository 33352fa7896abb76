"""The audit store: every decision the service made, the feedback on it, decision reports, and the
JWT replay cache. SQLite file by default; PostgreSQL by URL for several workers or hosts.

    store = AuditStore(default_database_url())   # connects and migrates the schema to head
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, case, delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from cds.audit.db import READ_ONLY, AuditError, default_database_url, make_engine, one_writer, safe_url
from cds.audit.migrate import current_revision, head_revision, upgrade_to_head
from cds.audit.models import Base, CardRule, Feedback, HookCall, IssuedCardRow, Report
from cds.audit.records import (
    CardDecision,
    Decision,
    FeedbackRecord,
    HookCallRecord,
    IssuedCard,
    ReportRecord,
    RuleOverrideRate,
)
from cds.audit.replay import DatabaseReplayCache
from cds.errors import AuthError
from cds.security.replay import ReplayCache

__all__ = [
    "AuditError",
    "AuditStore",
    "CardDecision",
    "Decision",
    "FeedbackRecord",
    "HookCallRecord",
    "IssuedCard",
    "ReportRecord",
    "RuleOverrideRate",
    "default_database_url",
    "report_key",
]


def _reason(exc: SQLAlchemyError) -> str:
    # The driver's first line only: str(exc) would include the SQL parameters (patient references).
    orig = getattr(exc, "orig", None)
    return (str(orig) if orig is not None else type(exc).__name__).strip().splitlines()[0]


@contextmanager
def _as_audit_errors(action: str) -> Iterator[None]:
    """Database errors as AuditError naming the action (the driver's first line, no parameters)."""
    try:
        yield
    except IntegrityError as exc:
        raise AuditError(f"{action}: refused by the database: {_reason(exc)}") from None
    except SQLAlchemyError as exc:
        raise AuditError(f"{action}: database error: {_reason(exc)}") from None


def _override_reason_without_free_text(reason: dict[str, Any] | None) -> dict[str, Any] | None:
    """Keep the coded reason; replace the clinician's free-text comment by whether there was one."""
    if reason is None:
        return None
    kept: dict[str, Any] = {}
    coding = reason.get("reason")
    if isinstance(coding, dict):
        kept["reason"] = {k: coding[k] for k in ("system", "code", "display") if k in coding}
    kept["userCommentGiven"] = bool(reason.get("userComment"))
    return kept


class AuditStore:
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        """`migrate`: bring the schema to this version's head (the service, on start). Without it
        (`cds audit`, a reader that may hold a read-only role) nothing is written: a schema that is
        not at this version's head is an AuditError saying so."""
        self.url = safe_url(url)
        self._engine = make_engine(url)
        try:
            if migrate:
                upgrade_to_head(self._engine)
            else:
                self._check_schema()
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise AuditError(f"{self.url}: cannot open the audit database: {_reason(exc)}") from None
        except AuditError:
            self._engine.dispose()
            raise
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        # Reads take no write lock (SQLite: plain BEGIN, no writers' queue): in WAL mode they see a
        # snapshot beside the writer, so a report fetch or `cds audit` never holds up a hook call.
        self._reads = sessionmaker(self._engine.execution_options(**READ_ONLY), expire_on_commit=False)
        self._reports_purged: datetime | None = None
        self._replay = DatabaseReplayCache(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def _check_schema(self) -> None:
        found, head = current_revision(self._engine), head_revision()
        if found is None:
            raise AuditError(f"{self.url}: not an audit database of ketamine-cds (no schema version)")
        if found != head:
            raise AuditError(
                f"{self.url}: the audit schema is at revision {found}, this version of ketamine-cds "
                f"reads {head}; start the service of this version once (it migrates the schema), or "
                "use the version that wrote it"
            )

    @contextmanager
    def _reading(self, action: str) -> Iterator[Session]:
        with _as_audit_errors(action), self._reads.begin() as session:
            yield session

    @contextmanager
    def _transaction(self, action: str) -> Iterator[Session]:
        with _as_audit_errors(action), one_writer(self._engine), self._sessions.begin() as session:
            yield session

    def ping(self) -> None:
        """Raise AuditError unless the database answers (the service's readiness check)."""
        with self._reading("ping") as session:
            session.execute(text("SELECT 1"))

    def record_hook_call(self, rec: HookCallRecord) -> None:
        """Store a hook call with its cards, their rule ids and its report (if any) in ONE
        transaction: all rows or none, so no report outlives a decision that was not recorded.

        Plain INSERTs built once (one per table, cards and rules as one multi-row statement each) on
        a connection, not an ORM session: the session and flush bookkeeping cost more CPU than the
        writes themselves.

        With `rec.token`, the token's use goes into the replay cache in the same transaction (one
        commit, one disk flush per call); if it was used already, nothing is written and AuthError is
        raised: the call must not be answered."""
        with self._writing("record_hook_call") as connection:
            if rec.token is not None and not self._replay.record_in(connection, rec.token):
                raise AuthError(f"iss={rec.token.iss!r}: jti already used (replay)")
            call_id = connection.execute(
                _INSERT_CALL,
                {
                    "hook_instance": rec.hook_instance,
                    "service_id": rec.service_id,
                    "hook": rec.hook,
                    "at": rec.at,
                    "ruleset_version": rec.ruleset_version,
                    "patient_ref": rec.patient_ref,
                    "latency_ms": rec.latency_ms,
                    "status_code": rec.status_code,
                },
            ).scalar_one()
            if rec.cards:
                connection.execute(
                    _INSERT_CARDS,
                    [
                        {
                            "uuid": card.uuid,
                            "hook_call_id": call_id,
                            "position": position,
                            "indicator": card.indicator,
                            "summary": card.summary,
                        }
                        for position, card in enumerate(rec.cards)
                    ],
                )
                card_rules = [
                    {"card_uuid": card.uuid, "rule_id": rule_id}
                    for card in rec.cards
                    for rule_id in dict.fromkeys(card.rule_ids)
                ]
                if card_rules:
                    connection.execute(_INSERT_RULES, card_rules)
            if rec.report is not None:
                self._add_report(connection, rec.report, rec.hook_instance)
        if rec.token is not None:
            self._replay.purge_if_due()

    @contextmanager
    def _writing(self, action: str) -> Iterator[Connection]:
        """One write transaction on a plain connection (the hot path: no ORM session)."""
        with _as_audit_errors(action), one_writer(self._engine), self._engine.begin() as connection:
            yield connection

    def _add_report(self, connection: Connection, report: ReportRecord, hook_instance: str) -> None:
        """Add a report; expired ones are deleted on the way, at most once a minute per worker (no
        separate clean-up job needed, and not a DELETE on every call)."""
        now = datetime.now(report.expires_at.tzinfo)
        if self._reports_purged is None or now - self._reports_purged >= _PURGE_REPORTS_EVERY:
            connection.execute(_DELETE_EXPIRED_REPORTS, {"now": now})
            self._reports_purged = now
        connection.execute(
            _INSERT_REPORT,
            {
                "report_id": report_key(report.report_id),
                "hook_instance": hook_instance,
                "content": report.content,
                "expires_at": report.expires_at,
            },
        )

    def card_service(self, uuid: str) -> str | None:
        """The service that issued card ``uuid``, None if we never issued it (feedback must match)."""
        with self._reading("card_service") as session:
            return session.scalar(
                select(HookCall.service_id).join(IssuedCardRow).where(IssuedCardRow.uuid == uuid)
            )

    def record_feedback(self, rec: FeedbackRecord) -> None:
        """Store one feedback entry. The override reason's free-text userComment is NOT stored (it may
        name the patient); its coded reason is, with ``userCommentGiven``. Unknown card: AuditError."""
        row = Feedback(
            service_id=rec.service_id,
            card_uuid=rec.card_uuid,
            outcome=rec.outcome,
            accepted_suggestions=list(rec.accepted_suggestions),
            override_reason=_override_reason_without_free_text(rec.override_reason),
            outcome_timestamp=rec.outcome_timestamp,
            received_at=rec.received_at,
        )
        with self._transaction("record_feedback") as session:
            session.add(row)

    def replay_cache(self) -> ReplayCache:
        """A JWT replay cache in this database: correct across worker processes and hosts. Hook calls
        whose record carries the token's use are recorded in it by `record_hook_call`."""
        return self._replay

    # --- reading, for `cds audit` ----------------------------------------------------------------

    def recent_decisions(self, limit: int = 20) -> list[Decision]:
        """The newest hook calls first, with their cards, rule ids and latest feedback outcome."""
        with self._reading("recent_decisions") as session:
            calls = session.scalars(
                select(HookCall)
                .options(selectinload(HookCall.cards).selectinload(IssuedCardRow.rules))
                .order_by(HookCall.at.desc(), HookCall.id.desc())
                .limit(limit)
            ).all()
            uuids = [card.uuid for call in calls for card in call.cards]
            latest: dict[str, str] = {}
            if uuids:
                for card_uuid, outcome in session.execute(
                    select(Feedback.card_uuid, Feedback.outcome)
                    .where(Feedback.card_uuid.in_(uuids))
                    .order_by(Feedback.received_at, Feedback.id)
                ):
                    latest[card_uuid] = outcome  # ordered oldest first: the last one wins
            return [
                Decision(
                    at=call.at,
                    hook_instance=call.hook_instance,
                    service_id=call.service_id,
                    hook=call.hook,
                    patient_ref=call.patient_ref,
                    ruleset_version=call.ruleset_version,
                    status_code=call.status_code,
                    latency_ms=call.latency_ms,
                    cards=[
                        CardDecision(
                            uuid=card.uuid,
                            indicator=card.indicator,
                            summary=card.summary,
                            rule_ids=[rule.rule_id for rule in card.rules],
                            outcome=latest.get(card.uuid),
                        )
                        for card in call.cards
                    ],
                )
                for call in calls
            ]

    def override_rates(self) -> list[RuleOverrideRate]:
        """Per rule id: cards issued, feedback entries received, how many were overrides."""
        overridden = func.sum(case((Feedback.outcome == "overridden", 1), else_=0))
        stmt = (
            select(
                CardRule.rule_id,
                func.count(func.distinct(CardRule.card_uuid)),
                func.count(Feedback.id),
                func.coalesce(overridden, 0),
            )
            .outerjoin(Feedback, Feedback.card_uuid == CardRule.card_uuid)
            .group_by(CardRule.rule_id)
            .order_by(CardRule.rule_id)
        )
        with self._reading("override_rates") as session:
            return [
                RuleOverrideRate(rule_id, int(cards), int(feedback), int(over))
                for rule_id, cards, feedback, over in session.execute(stmt)
            ]

    # --- decision reports ------------------------------------------------------------------------

    def get_report(self, report_id: str, now: datetime) -> str | None:
        """The report's content (JSON), or None if unknown or expired at ``now``."""
        with self._reading("get_report") as session:
            return session.scalar(
                select(Report.content).where(
                    Report.report_id == report_key(report_id), Report.expires_at > now
                )
            )


def report_key(report_id: str) -> str:
    """What the database keeps of a report id: its SHA-256. A copy of the database (a backup, a
    read-only replica) then holds no working report URL; 256 random bits need no salt or stretching."""
    return hashlib.sha256(report_id.encode("ascii")).hexdigest()


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


_PURGE_REPORTS_EVERY = timedelta(minutes=1)
_INSERT_CALL = insert(_table(HookCall)).returning(_table(HookCall).c.id)
_INSERT_CARDS = insert(_table(IssuedCardRow))
_INSERT_RULES = insert(_table(CardRule))
_INSERT_REPORT = insert(_table(Report))
_DELETE_EXPIRED_REPORTS = delete(_table(Report)).where(_table(Report).c.expires_at <= bindparam("now"))
