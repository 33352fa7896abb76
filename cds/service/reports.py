"""Decision reports: the clinician's HTML page of a hook call's assessment, served at /reports/{id}.

The page is opened by a browser from the EHR (a card's link), which holds no CDS client JWT, so
the random id in the URL is the credential: 256 bits from `secrets`, never listed, never logged.
Unknown and expired ids get the same 404. Responses are not cached, do not leak their URL to
other sites (Referrer-Policy) and can neither run nor load anything (CSP); which pages may frame
them is configured (CDS_REPORT_FRAME_ANCESTORS, default none). The database keeps the id hashed.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import orjson
from starlette.responses import Response

from cds.audit.records import ReportRecord
from cds.contract.assessment import Assessment
from cds.contract.timeline import Timeline
from cds.report.html import CSP, render_html
from cds.service.cards import BuiltCard
from cds.service.models import Link

if TYPE_CHECKING:
    from cds.service.hooks import Evaluated

log = logging.getLogger("cds.service")

REPORT_ID_BYTES = 32  # token_urlsafe(32): 43 characters, 256 bits
LINK_LABEL = "Full assessment report"
# What token_urlsafe produces; anything else is answered 404 without a database look-up.
_REPORT_ID = re.compile(r"^[A-Za-z0-9_-]{22,128}$")


def security_headers(frame_ancestors: str) -> dict[str, str]:
    """`frame_ancestors` is a CSP source list: "'none'" (default), or the EHR origins that embed the page."""
    return {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": f"{CSP.rstrip().rstrip(';')}; frame-ancestors {frame_ancestors}",
        "Referrer-Policy": "no-referrer",
    }


_NOT_FOUND = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Report not available</title>'
    "</head><body><p>This report does not exist or has expired. Open the patient's chart again for a "
    "new assessment.</p></body></html>\n"
)
_UNAVAILABLE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Report not available</title>'
    "</head><body><p>This report cannot be shown. The advice on the cards stands; open the patient's "
    "chart again for a new assessment.</p></body></html>\n"
)


def new_report_id() -> str:
    return secrets.token_urlsafe(REPORT_ID_BYTES)


def is_report_id(value: str) -> bool:
    return bool(_REPORT_ID.match(value))


def stored_report(evaluation: Evaluated, *, now: datetime, ttl_hours: float) -> ReportRecord | None:
    """What is stored of one evaluation's report: its assessment and timeline as JSON, rendered to
    HTML only when the page is opened (rendering took about 5 ms a call, 25x the JSON, and few
    reports are ever opened). None if it cannot be serialised: the cards (the safety advice) then go
    out without the link, and the error type (never its message, which may quote patient data) is
    logged."""
    try:
        content = (
            f'{{"assessment":{evaluation.assessment.model_dump_json()},'
            f'"timeline":{evaluation.timeline.model_dump_json()}}}'
        )
    except Exception as exc:
        log.error("report not stored: %s; cards are issued without a report link", type(exc).__name__)
        return None
    return ReportRecord(
        report_id=new_report_id(), content=content, expires_at=now + timedelta(hours=ttl_hours)
    )


def render_stored(content: str) -> str:
    """The HTML page of a stored report."""
    stored = orjson.loads(content)
    return render_html(
        Assessment.model_validate(stored["assessment"]), Timeline.model_validate(stored["timeline"])
    )


def with_report_link(cards: list[BuiltCard], base_url: str, report_id: str) -> list[BuiltCard]:
    link = Link(label=LINK_LABEL, url=f"{base_url.rstrip('/')}/reports/{report_id}", type="absolute")
    return [
        BuiltCard(b.card.model_copy(update={"links": [link, *(b.card.links or [])]}), b.rule_ids)
        for b in cards
    ]


def report_page(html: str, frame_ancestors: str) -> Response:
    return Response(html, media_type="text/html; charset=utf-8", headers=security_headers(frame_ancestors))


def report_unavailable(frame_ancestors: str) -> Response:
    return Response(
        _UNAVAILABLE,
        status_code=500,
        media_type="text/html; charset=utf-8",
        headers=security_headers(frame_ancestors),
    )


def report_not_found(frame_ancestors: str) -> Response:
    return Response(
        _NOT_FOUND,
        status_code=404,
        media_type="text/html; charset=utf-8",
        headers=security_headers(frame_ancestors),
    )
