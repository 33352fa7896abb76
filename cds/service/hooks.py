"""One hook call, from a validated request to cards: gather data, assess, build cards.

The assessment runs in a worker thread: the rules engine's C core holds the GIL, and calling it
inside the event loop would stall every other request (shared/notes/DEPENDENCIES.md).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import anyio
import anyio.to_thread
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


class _OnePerLoop:
    """One assessment at a time per worker, first come first served.

    The rules engine holds the GIL: assessments in parallel threads only share one core, each taking
    as long as all of them together (at 10 concurrent calls every call ended late). Queued one at a
    time, a call waits for those before it and then runs at full speed, so latency grows with the
    queue. Limiters are per event loop (tests run one loop per request).
    """

    def __init__(self) -> None:
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        if loop not in self._limiters:
            self._limiters[loop] = anyio.CapacityLimiter(1)
        return self._limiters[loop]


@dataclass(frozen=True)
class HookRunner:
    engine: Engine
    profile: Profile
    strengths: Strengths
    transport: httpx.AsyncBaseTransport | None = None
    queue: _OnePerLoop = field(default_factory=_OnePerLoop)

    async def run(
        self, request: HookRequest, context: PatientViewContext, policy: FetchPolicy
    ) -> HookOutcome:
        orders: list[DraftOrder] = []
        other_drafts: list[dict[str, Any]] = []
        if isinstance(context, OrderSignContext):
            selections = context.selections if isinstance(context, OrderSelectContext) else None
            drafts = context.draftOrders.resources()
            orders = draft_orders(drafts, selections, patient_id=context.patientId, strengths=self.strengths)
            if not any(o.product for o in orders):
                # No ketamine product ordered: nothing to say, and no patient data needed.
                return HookOutcome([], await run_in_threadpool(self.engine.ruleset_version))
            other_drafts = self._drafts_not_ours(drafts, orders, context.patientId)

        gathered = await gather(request, context.patientId, policy, transport=self.transport)
        resources = _merge(gathered.resources, other_drafts)

        def assess() -> HookOutcome:
            # The assessment and its cards in one worker-thread turn: CPU work off the event loop, queued
            # first come first served with the other calls of this worker.
            evaluation = self.engine.evaluate(resources, profile=self.profile)
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

        try:
            return await anyio.to_thread.run_sync(assess, limiter=self.queue.limiter())
        except InputError as exc:
            raise BadRequest([f"unusable FHIR data: {exc}"]) from None

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
