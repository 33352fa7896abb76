"""One hook call, from a validated request to cards: gather data, assess, build cards.

The assessment runs in a worker thread: the rules engine's C core holds the GIL, and calling it
inside the event loop would stall every other request (shared/notes/DEPENDENCIES.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from cds.contract.assessment import ProductName
from cds.errors import InputError
from cds.service.cards import BuiltCard, CardContext, order_cards, patient_view_cards
from cds.service.catalog import Service
from cds.service.engine import Engine, Evaluated
from cds.service.models import (
    CONTEXT_MODELS,
    HookRequest,
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
)
from cds.service.orders import DraftOrder, draft_orders, has_prior_use
from cds.service.prefetch import gather
from cds.service.settings import Settings


class BadRequest(ValueError):
    """The request cannot be answered as sent (HTTP 400); the messages say exactly why."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("; ".join(messages))


@dataclass(frozen=True)
class HookOutcome:
    cards: list[BuiltCard]
    ruleset_version: str
    # The evaluation behind the cards (for the decision's report); None when nothing was assessed.
    evaluation: Evaluated | None = None


def parse_context(request: HookRequest) -> PatientViewContext:
    model = CONTEXT_MODELS[request.hook]
    try:
        return model.model_validate(request.context)
    except ValidationError as exc:
        raise BadRequest(validation_messages(exc, prefix="context")) from None


def validation_messages(exc: ValidationError, *, prefix: str = "") -> list[str]:
    """Pydantic errors as 'where: what' lines, without echoing the offending values (may be PHI)."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        out.append(f"{where or 'body'}: {err['msg']}")
    return out


class HookRunner:
    def __init__(self, settings: Settings, engine: Engine, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        self.engine = engine
        self.transport = transport

    async def run(self, service: Service, request: HookRequest, context: PatientViewContext) -> HookOutcome:
        orders: list[DraftOrder] = []
        other_drafts: list[dict[str, Any]] = []
        if isinstance(context, OrderSignContext):
            selections = context.selections if isinstance(context, OrderSelectContext) else None
            orders = draft_orders(context.draftOrders.resources(), selections)
            if not any(o.product for o in orders):
                # No ketamine product ordered: nothing to say, and no patient data needed.
                return HookOutcome([], await run_in_threadpool(self.engine.ruleset_version))
            other_drafts = _drafts_not_ours(context.draftOrders.resources(), orders)

        gathered = await gather(
            request,
            context.patientId,
            timeout_s=self.settings.fhir_timeout_s,
            allow_http=self.settings.fhir_allow_http,
            transport=self.transport,
        )
        resources = _merge(gathered.resources, other_drafts)
        try:
            evaluation = await run_in_threadpool(
                self.engine.evaluate, resources, profile=self.settings.profile
            )
        except InputError as exc:
            raise BadRequest([f"unusable FHIR data: {exc}"]) from None
        assessment = evaluation.assessment

        ctx = CardContext(
            patient_id=context.patientId,
            user_id=context.userId,
            encounter_id=context.encounterId,
            ruleset_version=assessment.ruleset.stamp,
        )
        if isinstance(context, OrderSignContext):
            prior: dict[ProductName, bool] = {
                p: has_prior_use(resources, p) for p in ("esketamine", "ketamine-iv")
            }
            cards = order_cards(
                assessment, orders, hook=request.hook, prior_use=prior, missing=gathered.missing, ctx=ctx
            )
        else:
            cards = patient_view_cards(assessment, gathered.missing, ctx)
        return HookOutcome(cards, assessment.ruleset.version, evaluation)


def _drafts_not_ours(drafts: list[dict[str, Any]], checked: list[DraftOrder]) -> list[dict[str, Any]]:
    """Other draft orders of the session go into the assessment so interactions see them (e.g. a
    benzodiazepine ordered alongside esketamine). The ketamine drafts themselves do not: the engine
    would read the order under review as the patient's own treatment history.
    """
    ours = {o.reference for o in checked if o.product}
    return [o.resource for o in draft_orders(drafts, None) if o.product is None and o.reference not in ours]


def _merge(stored: list[dict[str, Any]], drafts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored resources plus drafts; a draft replaces a stored resource with the same type and id."""
    draft_ids = {(d.get("resourceType"), d.get("id")) for d in drafts if d.get("id")}
    kept = [r for r in stored if (r.get("resourceType"), r.get("id")) not in draft_ids]
    return kept + drafts
