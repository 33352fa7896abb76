"""Turn an Assessment (and, for order hooks, the draft orders) into CDS Hooks cards.

Rules this module keeps (checked by tests/service/conformance.py):
- one card per concern: findings sharing a concept share a card; no two cards say the same;
- indicator from severity: absolute → critical, relative → warning, otherwise info (a data gap that
  blocks clearing a product is raised to warning);
- every card has a uuid, a summary under 140 characters, a source naming ketamine-cds with the rule
  ids and versions, the citation as source.url and the concept as source.topic;
- every card with suggestions has selectionBehavior; critical and warning cards carry overrideReasons;
- detail is GitHub-flavoured markdown with the why-trace (finding detail, evidence, rule, citation);
- most severe first.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cds.contract.assessment import (
    Assessment,
    EsketamineDosing,
    Finding,
    KetamineIvDosing,
    Product,
    ProductName,
)
from cds.service.models import INDICATOR_RANK, Action, Card, Coding, Indicator, Link, Source, Suggestion
from cds.service.orders import DraftOrder, with_dose
from cds.service.prefetch import KeyResult

TOPIC_SYSTEM = "urn:ketamine-cds:concept"
OVERRIDE_SYSTEM = "urn:ketamine-cds:override-reason"
LOINC = "http://loinc.org"
SUMMARY_MAX = 139  # the spec: "<140-character summary"
IV_DOSE_TOLERANCE = 0.05  # ordered IV dose within 5 % of the computed dose is rounding, not an error

PRODUCT_LABEL: dict[str, str] = {"esketamine": "Esketamine", "ketamine-iv": "IV ketamine"}
_PRODUCT_LONG: dict[str, str] = {
    "esketamine": "Esketamine (intranasal)",
    "ketamine-iv": "IV ketamine (off-label)",
}
_VERDICT_TEXT: dict[str, str] = {
    "appropriate": "appropriate",
    "use-with-caution": "use with caution",
    "contraindicated": "contraindicated",
    "not-indicated": "not indicated",
    "insufficient-data": "cannot be cleared (data missing)",
}
_STATUS_TEXT: dict[str, str] = {
    "eligible": "Indication met",
    "not-eligible": "Indication not met",
    "insufficient-data": "Indication cannot be settled (data missing)",
}
_PATHWAY_TEXT: dict[str, str] = {
    "trd": "treatment-resistant depression",
    "suicidal-ideation": "MDD with acute suicidal ideation",
}
_SEVERITY_INDICATOR: dict[str, Indicator] = {"absolute": "critical", "relative": "warning", "info": "info"}
# Findings that patient-view folds into its summary card instead of showing one card each.
_SUMMARY_ONLY_CATEGORIES = frozenset({"monitoring", "dosing"})

# What to order for a data gap (concept → LOINC code, display): a `create` ServiceRequest suggestion.
GAP_ORDERS: dict[str, tuple[str, str]] = {
    "blood-pressure": ("85354-9", "Blood pressure panel"),
    "weight": ("29463-7", "Body weight"),
    "pregnancy-status": ("2106-3", "Pregnancy test (urine hCG)"),
    "depression-severity": ("44261-6", "PHQ-9 total score"),
}


def _reason(code: str, display: str) -> Coding:
    return Coding(system=OVERRIDE_SYSTEM, code=code, display=display)


OVERRIDE_CLINICAL: tuple[Coding, ...] = (
    _reason("benefit-outweighs-risk", "Benefit outweighs risk (clinician judgement)"),
    _reason("specialist-approved", "Approved by a specialist"),
    _reason("record-incorrect", "Patient record is incorrect or out of date"),
    _reason("already-addressed", "Already addressed"),
)
OVERRIDE_DATA: tuple[Coding, ...] = (
    _reason("obtained-not-recorded", "Already obtained; not yet in the record"),
    _reason("not-applicable", "Not applicable to this patient"),
    _reason("record-incorrect", "Patient record is incorrect or out of date"),
)
OVERRIDE_DOSE: tuple[Coding, ...] = (
    _reason("dose-intended", "Dose is intended (titration or continuation)"),
    _reason("record-incorrect", "Patient record is incorrect or out of date"),
)


@dataclass(frozen=True)
class CardContext:
    patient_id: str
    user_id: str
    encounter_id: str | None
    ruleset_version: str


@dataclass(frozen=True)
class BuiltCard:
    card: Card
    rule_ids: tuple[str, ...]


@dataclass
class _Deck:
    """Cards keyed by concern: a second card for the same concern is never added."""

    cards: dict[str, BuiltCard] = field(default_factory=dict)

    def add(self, key: str, built: BuiltCard | None) -> None:
        if built is None or key in self.cards:
            return
        if any(c.card.summary == built.card.summary for c in self.cards.values()):
            return
        self.cards[key] = built

    def sorted(self) -> list[BuiltCard]:
        cards = sorted(self.cards.values(), key=lambda c: INDICATOR_RANK[c.card.indicator])
        return [BuiltCard(links_out_of_detail(b.card), b.rule_ids) for b in cards]


_MD_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")


def links_out_of_detail(card: Card) -> Card:
    """Citation links move from the Markdown detail to the card's `links`: a client such as the CDS
    Hooks Sandbox opens a link in the detail in its own frame, leaving the EHR; `links` of type
    `absolute` are opened by the client as links. The detail keeps the label, as plain text."""
    if not card.detail:
        return card
    found = _MD_LINK.findall(card.detail)
    if not found:
        return card
    detail = _MD_LINK.sub(lambda m: m.group(1), card.detail)
    links = list(card.links or [])
    known = {link.url for link in links}
    for label, url in found:
        if url not in known:
            known.add(url)
            links.append(Link(label=_plain(label), url=url, type="absolute"))
    return card.model_copy(update={"detail": detail, "links": links})


def _plain(markdown: str) -> str:
    markdown = markdown.replace("&lt;", "<").replace("&gt;", ">")
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>])", r"\1", markdown)


# --- entry points -------------------------------------------------------------------------------


def patient_view_cards(
    assessment: Assessment, missing: Sequence[KeyResult], ctx: CardContext
) -> list[BuiltCard]:
    """The eligibility summary plus one card per contraindication, precaution, interaction or gap.

    A chart with no depression treatment on record and no indication gets no cards: this service
    has nothing to say there, and an "indication not met" card on every chart is alert fatigue.
    """
    # ... unless records could not be retrieved: then "no treatment on record" may be the gap.
    if assessment.indication.status == "not-eligible" and not assessment.indication.trials and not missing:
        return []
    deck = _Deck()
    deck.add("missing-data", missing_data_card(missing, ctx))
    deck.add("summary", summary_card(assessment, ctx, incomplete=bool(missing)))
    findings = [f for f in assessment.findings if f.category not in _SUMMARY_ONLY_CATEGORIES]
    for concept, group in _by_concept(findings):
        deck.add(f"concept:{concept}", finding_card(group, ctx))
    return deck.sorted()


def order_cards(
    assessment: Assessment,
    orders: Sequence[DraftOrder],
    *,
    hook: str,
    prior_use: dict[ProductName, bool],
    missing: Sequence[KeyResult],
    ctx: CardContext,
) -> list[BuiltCard]:
    """Cards for the draft ketamine/esketamine orders; none when no such product is ordered."""
    ours = [o for o in orders if o.product is not None]
    if not ours:
        return []
    deck = _Deck()
    deck.add("missing-data", missing_data_card(missing, ctx))
    products: list[ProductName] = []
    absorbed: set[int] = set()  # findings already told by a verdict or dose card
    for order in ours:
        assert order.product is not None
        product = assessment.product(order.product)
        if order.product not in products:
            products.append(order.product)
        verdict, used = verdict_card(assessment, product, order, ctx)
        deck.add(f"verdict:{order.product}", verdict)
        absorbed.update(used)
        if product.verdict != "contraindicated":
            dose, used = dose_card(
                assessment, product, order, hook=hook, prior_use=prior_use[order.product], ctx=ctx
            )
            deck.add(f"dose:{order.reference}", dose)
            absorbed.update(used)
    # Monitoring and dose advice for a product that must not be started is noise next to the
    # critical card; other findings still apply to the products that may go ahead.
    open_products = {p for p in products if assessment.product(p).verdict != "contraindicated"}
    findings = [
        f
        for f in assessment.findings
        if id(f) not in absorbed
        and set(f.applies_to) & set(products)
        and (f.category not in _SUMMARY_ONLY_CATEGORIES or set(f.applies_to) & open_products)
    ]
    for concept, group in _by_concept(findings):
        deck.add(f"concept:{concept}", finding_card(group, ctx))
    return deck.sorted()


# --- card builders ------------------------------------------------------------------------------


def finding_card(findings: Sequence[Finding], ctx: CardContext) -> BuiltCard:
    """One card for findings that share a concept; the most severe one leads."""
    ordered = sorted(findings, key=lambda f: INDICATOR_RANK[_indicator(f)])
    lead = ordered[0]
    indicator = _indicator(lead)
    gap = lead.category == "data-gap"
    suggestions = _gap_suggestions(lead.concept, ctx) if gap else None
    override: tuple[Coding, ...] | None = None
    if indicator != "info":
        override = OVERRIDE_DATA if gap else OVERRIDE_CLINICAL
    summary = lead.summary
    products = sorted({p for f in ordered for p in f.applies_to})
    card = Card(
        uuid=_uuid(),
        summary=clip(summary),
        detail=_findings_detail(ordered, products),
        indicator=indicator,
        source=_finding_source(ordered),
        suggestions=suggestions,
        selectionBehavior="at-most-one" if suggestions else None,
        overrideReasons=list(override) if override else None,
    )
    return BuiltCard(card, tuple(f.rule for f in ordered))


def summary_card(assessment: Assessment, ctx: CardContext, *, incomplete: bool = False) -> BuiltCard:
    """With records missing (`incomplete`), no product reads as cleared: "appropriate" and "use
    with caution" hold only for the data retrieved, and the card says so."""
    ind = assessment.indication
    head = _STATUS_TEXT[ind.status]
    if ind.status == "eligible" and ind.pathway:
        head += f" ({_PATHWAY_TEXT[ind.pathway]})"

    def verdict_text(p: Product) -> str:
        text = _VERDICT_TEXT[p.verdict]
        if incomplete and p.verdict in ("appropriate", "use-with-caution"):
            text += " on the records retrieved (checks incomplete)"
        return text

    verdicts = "; ".join(f"{PRODUCT_LABEL[p.product]}: {verdict_text(p)}" for p in assessment.products)
    summary = f"{head}. {verdicts}"
    lines = [f"### {head}", ""]
    lines.append(
        f"- Adequate failed antidepressant trials in the current episode: **{ind.adequate_failed_trials}**"
    )
    lines += [f"- {md(r)}" for r in ind.reasons]
    if ind.missing:
        lines.append("- To settle the indication, obtain: " + "; ".join(md(m) for m in ind.missing))
    if ind.trials:
        lines += [
            "",
            "| Antidepressant | Highest daily dose (mg) | Weeks | Adequate dose | Adequate duration "
            "| Outcome |",
            "|---|---|---|---|---|---|",
        ]
        for t in ind.trials:
            lines.append(
                f"| {md(t.drug)} | {_num(t.daily_dose_mg)} | {_num(t.weeks)} | {_yes(t.adequate_dose)} "
                f"| {_yes(t.adequate_duration)} | {t.outcome} |"
            )
    lines += ["", "### Products"]
    for p in assessment.products:
        lines.append(f"- **{_PRODUCT_LONG[p.product]}**: {verdict_text(p)}{_dosing_text(p)}")
        lines += [f"  - {md(r)}" for r in p.reasons]
    notes = [f for f in assessment.findings if f.category in _SUMMARY_ONLY_CATEGORIES]
    if notes:
        lines += ["", "### Monitoring and dosing"]
        lines += [
            f"- {md(f.summary)} ({_rule_ref(f)}; [{md(f.citation.label)}]({f.citation.url}))" for f in notes
        ]
    if ind.rules:
        lines += ["", "### Why"]
        for r in ind.rules:
            lines.append(
                f"- {md(r.reason)} — rule `{r.rule}` v{r.rule_version}; evidence: {_refs(r.evidence)}; "
                f"source: [{md(r.citation.label)}]({r.citation.url})"
            )
    lines += ["", _footer(assessment)]
    rules = ind.rules
    label = "ketamine-cds " + (
        ", ".join(f"{r.rule} v{r.rule_version}" for r in rules)
        if rules
        else f"ruleset {assessment.ruleset.version}"
    )
    source = Source(
        label=label,
        url=rules[0].citation.url if rules else None,
        topic=Coding(system=TOPIC_SYSTEM, code="eligibility", display="Ketamine/esketamine eligibility"),
    )
    card = Card(uuid=_uuid(), summary=clip(summary), detail="\n".join(lines), indicator="info", source=source)
    return BuiltCard(card, tuple(r.rule for r in rules))


def verdict_card(
    assessment: Assessment, product: Product, order: DraftOrder, ctx: CardContext
) -> tuple[BuiltCard | None, set[int]]:
    """The ordered product's verdict when it stands against the order (contraindicated, not indicated)."""
    name = PRODUCT_LABEL[product.product]
    if product.verdict == "contraindicated":
        reasons = [
            f for f in assessment.findings if f.severity == "absolute" and product.product in f.applies_to
        ]
        concepts = _unique(_concept_text(f.concept) for f in reasons) or ["see details"]
        summary = f"{name} is contraindicated for this patient: {', '.join(concepts)}"
        remove = Suggestion(
            label=f"Remove the {name.lower()} order",
            uuid=_uuid(),
            isRecommended=True,
            actions=[
                Action(
                    type="delete",
                    description=f"Remove the draft {name.lower()} order",
                    resourceId=order.reference,
                )
            ],
        )
        lines = [f"**{name} should not be started.**", ""]
        lines += [f"- {md(r)}" for r in product.reasons]
        lines += ["", *_why_lines(reasons)] if reasons else []
        lines += ["", _footer(assessment)]
        card = Card(
            uuid=_uuid(),
            summary=clip(summary),
            detail="\n".join(lines),
            indicator="critical",
            source=_finding_source(reasons) if reasons else _service_source(assessment, "contraindication"),
            suggestions=[remove],
            selectionBehavior="at-most-one",
            overrideReasons=list(OVERRIDE_CLINICAL),
        )
        return BuiltCard(card, tuple(f.rule for f in reasons)), {id(f) for f in reasons}
    if product.verdict == "not-indicated":
        ind = assessment.indication
        first = ind.reasons[0] if ind.reasons else _STATUS_TEXT[ind.status]
        summary = f"{name} ordered but the indication is not met: {first}"
        lines = [f"**{name} is not indicated for this patient.**", ""]
        lines += [f"- {md(r)}" for r in [*product.reasons, *ind.reasons]]
        if ind.rules:
            lines += ["", "### Why"]
            lines += [
                f"- {md(r.reason)} — rule `{r.rule}` v{r.rule_version}; evidence: {_refs(r.evidence)}; "
                f"source: [{md(r.citation.label)}]({r.citation.url})"
                for r in ind.rules
            ]
        lines += ["", _footer(assessment)]
        label = "ketamine-cds " + (
            ", ".join(f"{r.rule} v{r.rule_version}" for r in ind.rules)
            if ind.rules
            else f"ruleset {assessment.ruleset.version}"
        )
        card = Card(
            uuid=_uuid(),
            summary=clip(summary),
            detail="\n".join(lines),
            indicator="warning",
            source=Source(
                label=label,
                url=ind.rules[0].citation.url if ind.rules else None,
                topic=Coding(
                    system=TOPIC_SYSTEM, code="eligibility", display="Ketamine/esketamine eligibility"
                ),
            ),
            overrideReasons=list(OVERRIDE_CLINICAL),
        )
        return BuiltCard(card, tuple(r.rule for r in ind.rules)), set()
    if product.verdict == "insufficient-data":
        blocking = [
            f
            for f in assessment.findings
            if f.category == "data-gap" and f.blocks and product.product in f.applies_to
        ]
        if blocking and assessment.indication.status != "insufficient-data":
            # The blocking data-gap cards (warnings) say what to obtain; a verdict card would repeat
            # them. An unsettled indication has no blocking card of its own: this one is it.
            return None, set()
        summary = f"{name} cannot be cleared: data needed for the safety check are missing"
        lines = [
            f"**{name} cannot be cleared yet.**",
            "",
            *[f"- {md(r)}" for r in product.reasons],
            "",
            _footer(assessment),
        ]
        card = Card(
            uuid=_uuid(),
            summary=clip(summary),
            detail="\n".join(lines),
            indicator="warning",
            source=_service_source(assessment, "data-gap"),
            overrideReasons=list(OVERRIDE_DATA),
        )
        return BuiltCard(card, ()), set()
    return None, set()


def dose_card(
    assessment: Assessment,
    product: Product,
    order: DraftOrder,
    *,
    hook: str,
    prior_use: bool,
    ctx: CardContext,
) -> tuple[BuiltCard | None, set[int]]:
    """Ordered dose against the computed dose; a warning with an `update` suggestion when they differ."""
    dosing = product.dosing
    if dosing is None:
        return None, set()  # a data-gap finding (e.g. weight) says why no dose was computed
    name = PRODUCT_LABEL[product.product]
    dose_findings = [
        f for f in assessment.findings if f.category == "dosing" and product.product in f.applies_to
    ]
    expected, allowed, basis = _expected_dose(dosing, assessment, prior_use)
    if order.dose_mg is None:
        if hook != "order-sign":
            return None, set()  # order-select: details may not be entered yet
        problem = order.dose_problem or "no dose is given"
        summary = f"{name} order dose not checked: {problem}; computed dose is {_num(expected)} mg"
        suggestion = _dose_suggestion(order, expected, name)
        card = Card(
            uuid=_uuid(),
            summary=clip(summary),
            detail=_dose_detail(dosing, basis, dose_findings, assessment),
            # A dose given in a unit that cannot be read as mg is a signed order nobody checked.
            indicator="warning" if order.dose_problem else "info",
            source=_dose_source(assessment, dose_findings),
            suggestions=[suggestion],
            selectionBehavior="at-most-one",
            overrideReasons=list(OVERRIDE_DOSE) if order.dose_problem else None,
        )
        return BuiltCard(card, tuple(f.rule for f in dose_findings)), {id(f) for f in dose_findings}
    ordered = order.dose_mg
    if _dose_ok(ordered, allowed, product.product):
        return None, set()
    summary = f"{name} {_num(ordered)} mg ordered; {basis} is {_allowed_text(allowed)}"
    correct = min(allowed, key=lambda d: abs(d - ordered))
    card = Card(
        uuid=_uuid(),
        summary=clip(summary),
        detail=_dose_detail(dosing, basis, dose_findings, assessment, ordered=ordered),
        indicator="warning",
        source=_dose_source(assessment, dose_findings),
        suggestions=[_dose_suggestion(order, correct, name)],
        selectionBehavior="at-most-one",
        overrideReasons=list(OVERRIDE_DOSE),
    )
    return BuiltCard(card, tuple(f.rule for f in dose_findings)), {id(f) for f in dose_findings}


def missing_data_card(missing: Sequence[KeyResult], ctx: CardContext) -> BuiltCard | None:
    """Optional data the service could not get: say what was not checked (required data gives 412)."""
    if not missing:
        return None
    names = [r.query.what for r in missing]
    summary = "Checks incomplete: could not retrieve " + ", ".join(names)
    lines = [
        "The following records could not be retrieved, so the checks that depend on them did not run. "
        "Review them in the chart before ordering ketamine or esketamine.",
        "",
    ]
    lines += [
        f"- **{md(r.query.what)}** (`{r.query.key}`): {md(r.reason or 'not available')}" for r in missing
    ]
    source = Source(
        label=f"ketamine-cds service, ruleset {ctx.ruleset_version}",
        topic=Coding(system=TOPIC_SYSTEM, code="data-access", display="Data access"),
    )
    card = Card(
        uuid=_uuid(),
        summary=clip(summary),
        detail="\n".join(lines),
        indicator="warning",
        source=source,
        overrideReasons=list(OVERRIDE_DATA),
    )
    return BuiltCard(card, ())


# --- helpers --------------------------------------------------------------------------------------


def clip(text: str, limit: int = SUMMARY_MAX) -> str:
    """One line under the spec's 140 characters, cut at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:.") + "…"


def md(text: str) -> str:
    """Text from rules or records placed in markdown: no accidental HTML, tables or emphasis."""
    return (
        text.replace("\\", "\\\\")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("*", "\\*")
        .replace("_", "\\_")
        .replace("`", "\\`")
        .replace("\n", " ")
    )


def _indicator(f: Finding) -> Indicator:
    """absolute → critical, relative → warning, info → info; except that a data gap which blocks
    clearing a product (e.g. no blood pressure before dosing) is at least a warning: an info card
    would read as optional while the product cannot be given until the gap is closed."""
    if f.category == "data-gap" and f.blocks and f.severity == "info":
        return "warning"
    return _SEVERITY_INDICATOR[f.severity]


def _uuid() -> str:
    return str(uuid.uuid4())


def _by_concept(findings: Iterable[Finding]) -> list[tuple[str, list[Finding]]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.concept, []).append(f)
    return list(groups.items())


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _concept_text(concept: str) -> str:
    return concept.replace("-", " ")


def _rule_ref(f: Finding) -> str:
    return f"rule `{f.rule}` v{f.rule_version}"


def _refs(refs: Sequence[str]) -> str:
    return ", ".join(f"`{r}`" for r in refs) if refs else "none recorded"


def _why_lines(findings: Sequence[Finding]) -> list[str]:
    lines = ["### Why"]
    for f in findings:
        lines.append(f"- **{md(f.summary)}** — {md(f.detail)}")
        lines.append(f"  - Evidence: {_refs(f.evidence)}")
        if f.obtain:
            lines.append(f"  - To obtain: {md(f.obtain)}")
        lines.append(
            f"  - {_rule_ref(f)} ({f.category}, {f.severity}); source: "
            f"[{md(f.citation.label)}]({f.citation.url})"
        )
    return lines


def _findings_detail(findings: Sequence[Finding], products: Sequence[str]) -> str:
    applies = ", ".join(PRODUCT_LABEL.get(p, p) for p in products)
    lines = [f"Applies to: {applies}.", "", *_why_lines(findings)]
    return "\n".join(lines)


def _finding_source(findings: Sequence[Finding]) -> Source:
    lead = findings[0]
    rules = ", ".join(_unique(f"{f.rule} v{f.rule_version}" for f in findings))
    return Source(
        label=f"ketamine-cds {rules}",
        url=lead.citation.url,
        topic=Coding(
            system=TOPIC_SYSTEM, code=lead.concept, display=_concept_text(lead.concept).capitalize()
        ),
    )


def _service_source(assessment: Assessment, topic: str) -> Source:
    return Source(
        label=f"ketamine-cds ruleset {assessment.ruleset.version}",
        topic=Coding(system=TOPIC_SYSTEM, code=topic, display=_concept_text(topic).capitalize()),
    )


def _dose_source(assessment: Assessment, dose_findings: Sequence[Finding]) -> Source:
    if dose_findings:
        return _finding_source(dose_findings)
    return Source(
        label=f"ketamine-cds dose check, ruleset {assessment.ruleset.version} ({assessment.profile})",
        topic=Coding(system=TOPIC_SYSTEM, code="dose-schedule", display="Dose schedule"),
    )


def _gap_suggestions(concept: str, ctx: CardContext) -> list[Suggestion] | None:
    order = GAP_ORDERS.get(concept)
    if order is None:
        return None
    code, display = order
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{ctx.patient_id}"},
        "reasonCode": [{"text": "Needed before ketamine or esketamine treatment (ketamine-cds)"}],
    }
    if ctx.encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{ctx.encounter_id}"}
    if ctx.user_id.split("/", 1)[0] in {"Practitioner", "PractitionerRole"}:
        resource["requester"] = {"reference": ctx.user_id}
    action = Action(type="create", description=f"Order: {display}", resource=resource)
    return [Suggestion(label=f"Order {display.lower()}", uuid=_uuid(), isRecommended=True, actions=[action])]


def _expected_dose(
    dosing: EsketamineDosing | KetamineIvDosing, assessment: Assessment, prior_use: bool
) -> tuple[float, list[float], str]:
    """(computed dose, acceptable doses, what they are called) for the ordered product."""
    if isinstance(dosing, KetamineIvDosing):
        return (
            dosing.dose_mg,
            [dosing.dose_mg],
            (
                f"computed dose is {dosing.dose_mg_per_kg:g} mg/kg × {dosing.weight_kg:g} kg "
                f"({dosing.weight_basis} weight)"
            ),
        )
    if prior_use:
        # Past day 1 the label allows the schedule's doses (e.g. 56 or 84 mg), not only the start dose.
        allowed = sorted({d for step in dosing.schedule for d in (step.dose_mg or [])}) or [
            dosing.start_dose_mg
        ]
        return dosing.start_dose_mg, allowed, f"labelled dose ({assessment.profile}, continuing treatment)"
    return dosing.start_dose_mg, [dosing.start_dose_mg], f"start dose ({assessment.profile})"


def _dose_ok(ordered: float, allowed: Sequence[float], product: str) -> bool:
    if product == "ketamine-iv":
        return any(abs(ordered - a) <= max(a * IV_DOSE_TOLERANCE, 0.5) for a in allowed)
    return any(abs(ordered - a) < 1e-6 for a in allowed)


def _allowed_text(allowed: Sequence[float]) -> str:
    return " or ".join(f"{_num(a)} mg" for a in allowed)


def _dose_suggestion(order: DraftOrder, dose_mg: float, name: str) -> Suggestion:
    return Suggestion(
        label=f"Change the dose to {_num(dose_mg)} mg",
        uuid=_uuid(),
        isRecommended=True,
        actions=[
            Action(
                type="update",
                description=f"Set the {name.lower()} dose to {_num(dose_mg)} mg",
                resource=with_dose(order.resource, dose_mg),
            )
        ],
    )


def _dose_detail(
    dosing: EsketamineDosing | KetamineIvDosing,
    basis: str,
    findings: Sequence[Finding],
    assessment: Assessment,
    ordered: float | None = None,
) -> str:
    lines: list[str] = []
    if ordered is not None:
        lines += [f"Ordered: **{_num(ordered)} mg**. Expected: {md(basis)}.", ""]
    if isinstance(dosing, EsketamineDosing):
        lines.append(
            f"Computed start dose: **{_num(dosing.start_dose_mg)} mg**"
            + (f" ({md(dosing.regimen)})" if dosing.regimen else "")
            + "."
        )
    else:
        lines.append(
            f"Computed dose: **{_num(dosing.dose_mg)} mg** = {dosing.dose_mg_per_kg:g} mg/kg × "
            f"{dosing.weight_kg:g} kg ({dosing.weight_basis} body weight), infused over "
            f"{dosing.infusion_minutes} minutes."
        )
    lines += ["", "| Phase | Weeks | Frequency | Dose (mg) |", "|---|---|---|---|"]
    for step in dosing.schedule:
        doses = ", ".join(_num(d) for d in step.dose_mg) if step.dose_mg else "—"
        lines.append(f"| {md(step.phase)} | {md(step.weeks)} | {md(step.frequency)} | {doses} |")
    lines += [f"- {md(n)}" for n in dosing.notes]
    if findings:
        lines += ["", *_why_lines(findings)]
    lines += ["", _footer(assessment)]
    return "\n".join(lines)


def _dosing_text(p: Product) -> str:
    if isinstance(p.dosing, EsketamineDosing):
        return f" — start dose {_num(p.dosing.start_dose_mg)} mg"
    if isinstance(p.dosing, KetamineIvDosing):
        d = p.dosing
        return f" — {_num(d.dose_mg)} mg ({d.dose_mg_per_kg:g} mg/kg) over {d.infusion_minutes} min"
    return ""


def _footer(a: Assessment) -> str:
    version = md(a.ruleset.version)
    return f"_ketamine-cds ruleset {version}, profile {a.profile}, evaluated {a.as_of.isoformat()}_"


def _num(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:g}" if float(value).is_integer() else f"{value:.1f}"


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[value]
