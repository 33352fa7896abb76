"""Steps for features/terminology.feature, imported by tests/test_features.py (which runs the scenarios,
so that the rule coverage gate and `cds rules coverage` see them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_bdd import given, parsers

from cds.synthetic import SNOMED, PatientBuilder

if TYPE_CHECKING:
    from tests.test_features import World

CPT = "http://www.ama-assn.org/go/cpt"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _condition(p: PatientBuilder, code: dict[str, Any], day: str) -> None:
    p.resources.append(
        {
            "resourceType": "Condition",
            "id": p._id("cond"),
            "subject": p.ref,
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
            "code": code,
            "onsetDateTime": day,
        }
    )


@given(parsers.re(r'a SNOMED CT condition (?P<code>\d+) "(?P<display>[^"]+)" since (?P<day>[\d-]+)'))
def _snomed_condition(world: World, code: str, display: str, day: str) -> None:
    world.steps.append(
        lambda p: _condition(p, {"coding": [{"system": SNOMED, "code": code, "display": display}]}, day)
    )


@given(
    parsers.re(r'a condition coded (?P<system>\S+) (?P<code>\S+) "(?P<display>[^"]+)" since (?P<day>[\d-]+)')
)
def _coded_condition(world: World, system: str, code: str, display: str, day: str) -> None:
    world.steps.append(
        lambda p: _condition(p, {"coding": [{"system": system, "code": code, "display": display}]}, day)
    )


@given(parsers.re(r'an uncoded condition "(?P<text>[^"]+)" since (?P<day>[\d-]+)'))
def _uncoded_condition(world: World, text: str, day: str) -> None:
    world.steps.append(lambda p: _condition(p, {"text": text}, day))


@given(parsers.re(r'a procedure (?P<code>\S+) in CPT "(?P<text>[^"]+)" on (?P<day>[\d-]+)'))
def _procedure(world: World, code: str, text: str, day: str) -> None:
    def add(p: PatientBuilder) -> None:
        p.procedure(code, day, system=CPT)
        p.resources[-1]["code"]["coding"][0]["display"] = text

    world.steps.append(add)


def _allergy(p: PatientBuilder, extra: dict[str, Any]) -> None:
    p.resources.append(
        {
            "resourceType": "AllergyIntolerance",
            "id": p._id("allergy"),
            "patient": p.ref,
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                        "code": "confirmed",
                    }
                ]
            },
            **extra,
        }
    )


@given(parsers.re(r'an allergy coded (?P<system>\S+) (?P<code>\S+) "(?P<display>[^"]+)"'))
def _allergy_coded(world: World, system: str, code: str, display: str) -> None:
    world.steps.append(
        lambda p: _allergy(p, {"code": {"coding": [{"system": system, "code": code, "display": display}]}})
    )


@given(parsers.re(r'an allergy recorded as text "(?P<text>[^"]+)"'))
def _allergy_text(world: World, text: str) -> None:
    world.steps.append(lambda p: _allergy(p, {"code": {"text": text}}))


@given(parsers.re(r'an allergy whose reaction substance is "(?P<text>[^"]+)"'))
def _allergy_reaction(world: World, text: str) -> None:
    # AllergyIntolerance.code names a class ("Anaesthetic agent"); the reaction names the substance.
    world.steps.append(
        lambda p: _allergy(
            p,
            {
                "code": {"text": "Anaesthetic agent"},
                "reaction": [{"substance": {"text": text}, "manifestation": [{"text": "rash"}]}],
            },
        )
    )
