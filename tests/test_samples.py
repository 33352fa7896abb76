"""Every real-format sample in ../shared/fhir-samples gives an assessment, no error."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import jsonschema
import orjson
import pytest

from cds.ingest.load import load_resources
from cds.pipeline import assess

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "fhir-samples"
FILES = sorted(SAMPLES.glob("*/*.json")) if SAMPLES.exists() else []
SCHEMA = orjson.loads((Path(__file__).resolve().parents[1] / "docs" / "assessment.schema.json").read_bytes())


@pytest.mark.slow
@pytest.mark.skipif(not FILES, reason="../shared/fhir-samples is not present (it ships beside the repo)")
def test_there_are_55_samples() -> None:
    assert len(FILES) == 55


@pytest.mark.slow
@pytest.mark.skipif(not FILES, reason="../shared/fhir-samples is not present (it ships beside the repo)")
@pytest.mark.parametrize("path", FILES, ids=[f.name[:60] for f in FILES])
def test_sample_gives_a_valid_assessment(path: Path) -> None:
    a = assess(load_resources(path), as_of=date(2026, 11, 27))
    jsonschema.validate(a.to_json_dict(), SCHEMA)
    # Synthea and eCQM records carry no trial doses: nobody may come out eligible on them.
    for product in a.products:
        if product.verdict == "appropriate":
            assert a.indication.status == "eligible"
