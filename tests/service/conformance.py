"""Conformance checks of CDS Hooks 2.0.1 JSON bodies, used by the service tests.

Each check returns a list of violations ("where: rule") so a test can show all of them at once:

    assert check_response(body) == []

Sources: the 2.0.1 specification text (shared/spec/cds-hooks/spec-text/cds-hooks-2.0.1-index.md),
which wins where the HL7 logical models are looser; the invariants cds-r-1, cds-resp-1..6 and
cds-fb-1..3; the hook library (ord-1). Project rules (uuid on every card, overrideReasons on
critical and warning cards, severity order, no duplicate concern) are checked by `check_project_rules`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

INDICATORS = ("info", "warning", "critical")
SELECTION_BEHAVIORS = ("at-most-one", "any")
ACTION_TYPES = ("create", "update", "delete")
LINK_TYPES = ("absolute", "smart")
CARD_FIELDS = {
    "uuid",
    "summary",
    "detail",
    "indicator",
    "source",
    "suggestions",
    "selectionBehavior",
    "overrideReasons",
    "links",
    "extension",
}
SOURCE_FIELDS = {"label", "url", "icon", "topic", "extension"}
SUGGESTION_FIELDS = {"label", "uuid", "isRecommended", "actions", "extension"}
ACTION_FIELDS = {"type", "description", "resource", "resourceId", "extension"}
LINK_FIELDS = {"label", "url", "type", "appContext", "autolaunchable", "extension"}
SERVICE_FIELDS = {"hook", "title", "description", "id", "prefetch", "usageRequirements", "extension"}
# Prefetch tokens each hook allows (hook library 1.0.1, "Prefetch Token: Yes"), plus the user tokens.
HOOK_TOKENS = {
    "patient-view": {"context.userId", "context.patientId", "context.encounterId"},
    "order-select": {"context.userId", "context.patientId", "context.encounterId"},
    "order-sign": {"context.userId", "context.patientId", "context.encounterId"},
}
USER_TOKENS = {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}
_TOKEN = re.compile(r"\{\{([^}]*)\}\}")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _absolute_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def check_no_null_or_empty(value: Any, where: str = "$", *, allow_empty: tuple[str, ...] = ()) -> list[str]:
    """'JSON elements SHALL NOT be null' and 'SHALL NOT be empty' ("", [], {}), unless specified."""
    out: list[str] = []
    if value is None:
        out.append(f"{where}: null is not allowed")
    elif isinstance(value, str | list | dict) and len(value) == 0 and where not in allow_empty:
        out.append(f"{where}: empty value is not allowed")
    if isinstance(value, dict):
        # FHIR resources inside actions follow FHIR's own rules (also no empty elements).
        for key, item in value.items():
            out += check_no_null_or_empty(item, f"{where}.{key}", allow_empty=allow_empty)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += check_no_null_or_empty(item, f"{where}[{i}]", allow_empty=allow_empty)
    return out


def check_coding(coding: Any, where: str, *, display_required: bool) -> list[str]:
    if not isinstance(coding, dict):
        return [f"{where}: Coding must be an object"]
    out = []
    for name in ("code", "system"):
        if not isinstance(coding.get(name), str) or not coding.get(name):
            out.append(f"{where}.{name}: REQUIRED string")
    if display_required and not (isinstance(coding.get("display"), str) and coding["display"]):
        out.append(f"{where}.display: REQUIRED for override reasons (cds-resp-4)")
    extra = set(coding) - {"code", "system", "display"}
    if extra:
        out.append(f"{where}: unknown Coding fields {sorted(extra)}")
    return out


def check_action(action: Any, where: str) -> list[str]:
    if not isinstance(action, dict):
        return [f"{where}: action must be an object"]
    out = []
    if action.get("type") not in ACTION_TYPES:
        out.append(f"{where}.type: must be one of {ACTION_TYPES}")
    if not isinstance(action.get("description"), str) or not action["description"]:
        out.append(f"{where}.description: REQUIRED (cds-resp-5)")
    resource = action.get("resource")
    if action.get("type") in ("create", "update"):
        if not isinstance(resource, dict) or not _RESOURCE_TYPE.match(str(resource.get("resourceType", ""))):
            out.append(f"{where}.resource: a FHIR resource is REQUIRED for {action.get('type')}")
        elif action["type"] == "update" and not resource.get("id"):
            out.append(f"{where}.resource.id: an update carries the whole resource, with its id")
    if action.get("type") == "delete" and ("resourceId" not in action or "resource" in action):
        out.append(f"{where}: delete needs resourceId and no resource (cds-resp-2)")
    if "resourceId" in action and not re.match(
        r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$", str(action["resourceId"])
    ):
        out.append(f"{where}.resourceId: must be a relative reference Type/id")
    extra = set(action) - ACTION_FIELDS
    if extra:
        out.append(f"{where}: unknown action fields {sorted(extra)}")
    return out


def check_card(card: Any, where: str = "card") -> list[str]:
    if not isinstance(card, dict):
        return [f"{where}: card must be an object"]
    out: list[str] = []
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary:
        out.append(f"{where}.summary: REQUIRED string")
    elif len(summary) >= 140:
        out.append(f"{where}.summary: must be under 140 characters (has {len(summary)})")
    elif "\n" in summary:
        out.append(f"{where}.summary: one sentence, no line breaks")
    if card.get("indicator") not in INDICATORS:
        out.append(f"{where}.indicator: REQUIRED, one of {INDICATORS}")
    if "detail" in card and not isinstance(card["detail"], str):
        out.append(f"{where}.detail: must be a (markdown) string")
    if "uuid" in card and not isinstance(card["uuid"], str):
        out.append(f"{where}.uuid: must be a string")

    source = card.get("source")
    if not isinstance(source, dict):
        out.append(f"{where}.source: REQUIRED object")
    else:
        if not isinstance(source.get("label"), str) or not source["label"]:
            out.append(f"{where}.source.label: REQUIRED string")
        for name in ("url", "icon"):
            if name in source and not _absolute_url(source[name]):
                out.append(f"{where}.source.{name}: must be an absolute URL")
        if "topic" in source:
            out += check_coding(source["topic"], f"{where}.source.topic", display_required=False)
        extra = set(source) - SOURCE_FIELDS
        if extra:
            out.append(f"{where}.source: unknown fields {sorted(extra)}")

    suggestions = card.get("suggestions")
    if suggestions is not None:
        if not isinstance(suggestions, list):
            out.append(f"{where}.suggestions: must be an array")
            suggestions = []
        if suggestions and "selectionBehavior" not in card:
            out.append(f"{where}.selectionBehavior: REQUIRED when suggestions are present (cds-resp-6)")
        for i, s in enumerate(suggestions):
            sw = f"{where}.suggestions[{i}]"
            if not isinstance(s, dict):
                out.append(f"{sw}: must be an object")
                continue
            if not isinstance(s.get("label"), str) or not s["label"]:
                out.append(f"{sw}.label: REQUIRED string")
            if "isRecommended" in s and not isinstance(s["isRecommended"], bool):
                out.append(f"{sw}.isRecommended: must be a boolean")
            for j, action in enumerate(s.get("actions") or []):
                out += check_action(action, f"{sw}.actions[{j}]")
            extra = set(s) - SUGGESTION_FIELDS
            if extra:
                out.append(f"{sw}: unknown fields {sorted(extra)}")
        recommended = sum(1 for s in suggestions if isinstance(s, dict) and s.get("isRecommended"))
        if card.get("selectionBehavior") == "at-most-one" and recommended > 1:
            out.append(f"{where}: at most one recommended suggestion with at-most-one (cds-resp-1)")
    if "selectionBehavior" in card and card["selectionBehavior"] not in SELECTION_BEHAVIORS:
        out.append(f"{where}.selectionBehavior: must be one of {SELECTION_BEHAVIORS}")

    for i, reason in enumerate(card.get("overrideReasons") or []):
        out += check_coding(reason, f"{where}.overrideReasons[{i}]", display_required=True)

    for i, link in enumerate(card.get("links") or []):
        lw = f"{where}.links[{i}]"
        if not isinstance(link, dict):
            out.append(f"{lw}: must be an object")
            continue
        if not isinstance(link.get("label"), str) or not link["label"]:
            out.append(f"{lw}.label: REQUIRED string")
        if not _absolute_url(link.get("url")):
            out.append(f"{lw}.url: REQUIRED URL")
        if link.get("type") not in LINK_TYPES:
            out.append(f"{lw}.type: REQUIRED, one of {LINK_TYPES}")
        if link.get("type") != "smart" and "appContext" in link:
            out.append(f"{lw}.appContext: only for smart links (cds-resp-3)")
        extra = set(link) - LINK_FIELDS
        if extra:
            out.append(f"{lw}: unknown fields {sorted(extra)}")

    extra = set(card) - CARD_FIELDS
    if extra:
        out.append(f"{where}: unknown card fields {sorted(extra)}")
    return out


def check_response(body: Any) -> list[str]:
    """A 200 hook response: `cards` REQUIRED (may be []), optional `systemActions`."""
    if not isinstance(body, dict):
        return ["$: response must be an object"]
    out: list[str] = []
    if not isinstance(body.get("cards"), list):
        return ["$.cards: REQUIRED array"]
    out += check_no_null_or_empty(body, allow_empty=("$.cards",))
    for i, card in enumerate(body["cards"]):
        out += check_card(card, f"$.cards[{i}]")
    for i, action in enumerate(body.get("systemActions") or []):
        out += check_action(action, f"$.systemActions[{i}]")
    extra = set(body) - {"cards", "systemActions", "extension"}
    if extra:
        out.append(f"$: unknown response fields {sorted(extra)}")
    return out


def check_project_rules(body: dict[str, Any]) -> list[str]:
    """ketamine-cds's own card rules, stricter than the spec."""
    out: list[str] = []
    cards = body.get("cards", [])
    uuids = [c.get("uuid") for c in cards]
    for i, card in enumerate(cards):
        where = f"$.cards[{i}]"
        if not isinstance(card.get("uuid"), str) or not _UUID.match(card["uuid"]):
            out.append(f"{where}.uuid: every card carries a UUID")
        if card.get("indicator") in ("critical", "warning") and not card.get("overrideReasons"):
            out.append(f"{where}.overrideReasons: critical and warning cards offer override reasons")
        if "ketamine-cds" not in card.get("source", {}).get("label", ""):
            out.append(f"{where}.source.label: must name ketamine-cds")
        if "topic" not in card.get("source", {}):
            out.append(f"{where}.source.topic: every card has a topic")
        for j, s in enumerate(card.get("suggestions") or []):
            if not isinstance(s.get("uuid"), str) or not _UUID.match(s["uuid"]):
                out.append(f"{where}.suggestions[{j}].uuid: every suggestion carries a UUID (feedback)")
            if not s.get("actions"):
                out.append(f"{where}.suggestions[{j}].actions: a suggestion must do something")
    if len(set(uuids)) != len(uuids):
        out.append("$.cards: card uuids must be unique")
    summaries = [c.get("summary") for c in cards]
    if len(set(summaries)) != len(summaries):
        out.append("$.cards: two cards say the same thing (duplicate summary)")
    topics = [
        (c["source"]["topic"].get("code"), c["indicator"])
        for c in cards
        if isinstance(c.get("source", {}).get("topic"), dict)
    ]
    concept_topics = [t for t, _ in topics if t not in ("eligibility", "dose-schedule", "data-access")]
    if len(set(concept_topics)) != len(concept_topics):
        out.append("$.cards: one card per concept (a topic appears twice)")
    ranks = [INDICATORS[::-1].index(c["indicator"]) for c in cards if c.get("indicator") in INDICATORS]
    if ranks != sorted(ranks):
        out.append("$.cards: most severe first (critical, warning, info)")
    return out


def check_discovery(body: Any) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("services"), list):
        return ["$.services: REQUIRED array"]
    out = check_no_null_or_empty(body, allow_empty=("$.services",))
    seen: set[tuple[str, str]] = set()
    for i, service in enumerate(body["services"]):
        where = f"$.services[{i}]"
        for name in ("hook", "id", "description"):
            if not isinstance(service.get(name), str) or not service[name]:
                out.append(f"{where}.{name}: REQUIRED string")
        if "title" not in service:
            out.append(f"{where}.title: RECOMMENDED (project requires it)")
        ident = (str(service.get("id")), str(service.get("hook")))
        if ident in seen:
            out.append(f"{where}: the same id is listed twice for the same hook")
        seen.add(ident)
        if not re.match(r"^[A-Za-z0-9\-._]+$", str(service.get("id", ""))):
            out.append(f"{where}.id: must be a URL path segment")
        if "extension" in service and not isinstance(service["extension"], dict):
            out.append(f"{where}.extension: must be an object")
        allowed = HOOK_TOKENS.get(str(service.get("hook")), set()) | USER_TOKENS
        for key, template in (service.get("prefetch") or {}).items():
            pw = f"{where}.prefetch.{key}"
            if not isinstance(template, str):
                out.append(f"{pw}: must be a string FHIR query")
                continue
            out += check_prefetch_template(template, allowed, pw)
        extra = set(service) - SERVICE_FIELDS
        if extra:
            out.append(f"{where}: unknown fields {sorted(extra)}")
    return out


def check_prefetch_template(template: str, allowed_tokens: set[str], where: str) -> list[str]:
    """Tokens are root-level context fields (or user tokens); queries keep to the recommended subset."""
    out = []
    for token in _TOKEN.findall(template):
        if token not in allowed_tokens:
            out.append(f"{where}: token {{{{{token}}}}} is not a root-level prefetch token of this hook")
    path, _, query = template.partition("?")
    segments = path.split("/")
    if not _RESOURCE_TYPE.match(segments[0]):
        out.append(f"{where}: must start with a resource type")
    if len(segments) == 2 and query:
        out.append(f"{where}: an instance read takes no search parameters")
    if len(segments) > 2:
        out.append(f"{where}: only instance reads and type-level searches")
    for param in filter(None, query.split("&")):
        name, _, value = param.partition("=")
        base, _, modifier = name.partition(":")
        if modifier and modifier != "in":
            out.append(f"{where}: modifier :{modifier} is outside the recommended subset")
        if base.startswith("_") and base not in ("_count", "_sort", "_id"):
            out.append(f"{where}: {base} is outside the recommended subset")
        if not value:
            out.append(f"{where}: parameter {name} has no value")
    return out


def check_feedback_request(body: Any) -> list[str]:
    """A feedback POST body as a client would send it (cds-fb-1..3)."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        return ["$.feedback: REQUIRED array"]
    out = []
    for i, item in enumerate(body["feedback"]):
        where = f"$.feedback[{i}]"
        if not isinstance(item.get("card"), str):
            out.append(f"{where}.card: REQUIRED string")
        if item.get("outcome") not in ("accepted", "overridden"):
            out.append(f"{where}.outcome: accepted or overridden (cds-fb-1)")
        if item.get("outcome") == "accepted" and not item.get("acceptedSuggestions"):
            out.append(f"{where}.acceptedSuggestions: REQUIRED for accepted (cds-fb-2)")
        reason = item.get("overrideReason")
        if reason is not None and not (reason.get("reason") or reason.get("userComment")):
            out.append(f"{where}.overrideReason: reason or userComment (cds-fb-3)")
        if not isinstance(item.get("outcomeTimestamp"), str):
            out.append(f"{where}.outcomeTimestamp: REQUIRED")
    return out
