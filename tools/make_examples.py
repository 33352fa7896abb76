"""Regenerate fhir/examples/*.json from cds.synthetic (deterministic). Run after changing the builder."""

from __future__ import annotations

import json
from pathlib import Path

from cds.synthetic import JAPANESE_RACE, trd_patient

OUT = Path(__file__).resolve().parents[1] / "fhir" / "examples"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {}
    cases["trd-eligible"] = trd_patient("trd-eligible")
    p = trd_patient("aneurysm")
    p.condition(
        "I71.40", display="Abdominal aortic aneurysm, without rupture, unspecified", onset="2023-04-02"
    )
    cases["aneurysm"] = p
    cases["older-adult"] = trd_patient("older-adult", birth="1955-01-20", gender="male")
    p = trd_patient("japanese-ancestry", birth="1975-06-01", gender="male")
    p.race_extension = JAPANESE_RACE
    cases["japanese-ancestry"] = p
    cases["obese-130kg"] = trd_patient("obese-130kg", gender="male", weight_kg=130, height_cm=175)
    cases["no-recent-bp"] = trd_patient("no-recent-bp", gender="male", vitals_on="2024-12-01")
    for name, builder in cases.items():
        (OUT / f"{name}.json").write_text(json.dumps(builder.bundle(), indent=2) + "\n")
    print(f"wrote {len(cases)} examples to {OUT}")


if __name__ == "__main__":
    main()
