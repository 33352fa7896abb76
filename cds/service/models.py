"""Pydantic models of the CDS Hooks 2.0.1 JSON bodies (requests in, cards and discovery out).

Field names follow the spec's JSON spelling (camelCase). Response models are dumped with
`exclude_none` because the spec forbids null and empty optional elements: an absent value is
omitted, never sent as null.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from cds.errors import InputError

# FHIR id (R4 `id` datatype); also keeps the patient id safe to place in a FHIR query URL.
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# Hook library invariant ord-1 for userId: "{type}/{id}".
USER_REFERENCE = re.compile(r"^[\w]+/[\w\-.]+$")

HookName = Literal["patient-view", "order-select", "order-sign"]
Indicator = Literal["info", "warning", "critical"]
INDICATOR_RANK: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


class BadRequest(InputError):
    """The request cannot be answered as sent (HTTP 400); the messages say exactly why."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("; ".join(messages))


class _In(BaseModel):
    # Clients may add fields (extensions, newer spec versions): tolerate, never echo.
    model_config = ConfigDict(extra="allow", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


# --- requests -------------------------------------------------------------------------------


class FhirAuthorization(_In):
    access_token: str = Field(min_length=1)
    token_type: str
    # REQUIRED in the spec but unused here: tolerated when absent rather than refusing advice.
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("token_type must be 'Bearer'")
        return value


class HookRequest(_In):
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1, max_length=200)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, dict[str, Any] | None] | None = None

    @field_validator("fhirServer")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("fhirServer must be an absolute http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _cds_r_1(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirServer is required when fhirAuthorization is provided (cds-r-1)")
        return self


class BundleEntry(_In):
    resource: dict[str, Any] | None = None


class DraftOrdersBundle(_In):
    resourceType: Literal["Bundle"]
    # The CDS Hooks Sandbox sends draftOrders without `type`: tolerated.
    type: str | None = None
    entry: list[BundleEntry] = Field(default_factory=list)

    def resources(self) -> list[dict[str, Any]]:
        return [e.resource for e in self.entry if e.resource]


class PatientViewContext(_In):
    userId: str
    patientId: str
    encounterId: str | None = None

    @field_validator("userId")
    @classmethod
    def _user(cls, value: str) -> str:
        if not USER_REFERENCE.match(value):
            raise ValueError("userId must be a reference of the form ResourceType/id (ord-1)")
        return value

    @field_validator("patientId", "encounterId")
    @classmethod
    def _fhir_id(cls, value: str | None) -> str | None:
        if value is not None and not FHIR_ID.match(value):
            raise ValueError("must be a FHIR id (letters, digits, '-', '.'; at most 64)")
        return value


class OrderSignContext(PatientViewContext):
    draftOrders: DraftOrdersBundle


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)


CONTEXT_MODELS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}


class Coding(_Out):
    system: str
    code: str
    display: str | None = None


class AcceptedSuggestion(_In):
    id: str = Field(min_length=1)


class OverrideReason(_In):
    reason: Coding | None = None
    userComment: str | None = None

    @model_validator(mode="after")
    def _cds_fb_3(self) -> OverrideReason:
        if self.reason is None and not self.userComment:
            raise ValueError("overrideReason needs a reason, a userComment, or both (cds-fb-3)")
        return self


class FeedbackItem(_In):
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: AwareDatetime

    @model_validator(mode="after")
    def _cds_fb_2(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when outcome is 'accepted' (cds-fb-2)")
        return self


class FeedbackRequest(_In):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=500)


# --- responses ------------------------------------------------------------------------------


class Source(_Out):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Out):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None


class Suggestion(_Out):
    label: str
    uuid: str
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(_Out):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None


class Card(_Out):
    uuid: str
    summary: str = Field(max_length=139)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _cds_resp_6(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("suggestions need a selectionBehavior (cds-resp-6)")
        return self


class CdsResponse(_Out):
    cards: list[Card]


class ServiceDescription(_Out):
    hook: HookName
    id: str
    title: str
    description: str
    prefetch: dict[str, str]
    usageRequirements: str | None = None
    extension: dict[str, Any] | None = None


class Discovery(_Out):
    services: list[ServiceDescription]
