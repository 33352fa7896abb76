"""One hook call, from a validated request to cards: gather data, assess, build cards.

The assessment runs in a worker thread: the rules engine's C core holds the GIL, and calling it
inside the event loop would stall every other request (shared/notes/DEPENDENCIES.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from cds.contract.assessment import Assessment, ProductName, Profile
from cds.contract.timeline import Timeline
from cds.errors import InputError
from cds.service.cards import BuiltCard, CardContext, order_cards, patient_view_cards
from cds.service.models import (
    CONTEXT_MODELS,
    BadRequest,
    HookRequest,
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
)
from cds.service.orders import DraftOrder, Strengths, draft_orders, has_prior_use
from cds.service.prefetch import FetchPolicy, gather
from cds.service.queueing import CpuQueue

T = TypeVar("T")


class Evaluated(Protocol):
    """What a hook call needs from an evaluation: the assessment (cards) and the timeline (report)."""

    @property
    def assessment(self) -> Assessment: ...

    @property
    def timeline(self) -> Timeline: ...


class Engine(Protocol):
    def evaluate(self, resources: list[dict[str, Any]], *, profile: Profile) -> Evaluated: ...

    def ruleset_version(self) -> str: ...


class CoreEngine:
    """`cds.pipeline.evaluate`, the same the command line runs, imported on first use (cheap start).

    `as_of` pins the evaluation date (CDS_AS_OF: demos and replays over fixed records); None is today.
    """

    def __init__(self, as_of: date | None = None) -> None:
        self.as_of = as_of

    def evaluate(self, resources: list[dict[str, Any]], *, profile: Profile) -> Evaluated:
        from cds.pipeline import evaluate

        result: Evaluated = evaluate(resources, as_of=self.as_of, profile=profile)
        return result

    def ruleset_version(self) -> str:
        from cds.knowledge import default_knowledge

        return default_knowledge().stamp


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


@dataclass(frozen=True)
class HookRunner:
    engine: Engine
    profile: Profile
    strengths: Strengths
    transport: httpx.AsyncBaseTransport | None = None
    queue: CpuQueue = field(default_factory=CpuQueue)

    async def run(
        self,
        request: HookRequest,
        context: PatientViewContext,
        policy: FetchPolicy,
        finish: Callable[[HookOutcome], T],
        admit: Callable[[], None] | None = None,
    ) -> T:
        """Gather, assess, build the cards, then `finish(outcome)` (the report and the audit write) in
        the same turn of the worker's CPU queue: a second turn would wait behind every call queued
        meanwhile, and an assessed call would sit unanswered while newer ones are assessed.

        `admit()` opens that turn, before the assessment: it raises to refuse the call (a replayed
        token: the database read is made here, not in a thread hand-off of its own)."""
        orders: list[DraftOrder] = []
        other_drafts: list[dict[str, Any]] = []
        if isinstance(context, OrderSignContext):
            selections = context.selections if isinstance(context, OrderSelectContext) else None
            drafts = context.draftOrders.resources()
            orders = draft_orders(drafts, selections, patient_id=context.patientId, strengths=self.strengths)
            if not any(o.product for o in orders):
                # No ketamine product ordered: nothing to say, and no patient data needed.
                version = await run_in_threadpool(self.engine.ruleset_version)
                return await self.queue.run(partial(finish, HookOutcome([], version)))
            other_drafts = self._drafts_not_ours(drafts, orders, context.patientId)

        gathered = await gather(request, context.patientId, policy, transport=self.transport)
        resources = _merge(gathered.resources, other_drafts)

        def assess() -> T:
            if admit is not None:
                admit()
            try:
                evaluation = self.engine.evaluate(resources, profile=self.profile)
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
            return finish(HookOutcome(cards, assessment.ruleset.version, evaluation))

        return await self.queue.run(assess)

    def _drafts_not_ours(
        self, drafts: list[dict[str, Any]], checked: list[DraftOrder], patient_id: str
    ) -> list[dict[str, Any]]:
        """Other draft orders of the session go into the assessment so interactions see them (e.g. a
        benzodiazepine ordered alongside esketamine). The ketamine drafts themselves do not: the engine
        would read the order under review as the patient's own treatment history.
        """
        ours = {o.reference for o in checked if o.product}
        every = draft_orders(drafts, None, patient_id=patient_id, strengths=self.strengths)
        return [o.resource for o in every if o.product is None and o.reference not in ours]


def _merge(stored: list[dict[str, Any]], drafts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored resources plus drafts; a draft replaces a stored resource with the same type and id."""
    draft_ids = {(d.get("resourceType"), d.get("id")) for d in drafts if d.get("id")}
    kept = [r for r in stored if (r.get("resourceType"), r.get("id")) not in draft_ids]
    return kept + drafts
