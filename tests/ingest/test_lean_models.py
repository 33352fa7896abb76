"""The lean models are projections of fhir.resources' R4B models, not a second definition."""

from __future__ import annotations

from fhir.resources.R4B import get_fhir_model_class

from cds.ingest.lean import READS, lean_model


def test_every_projected_field_keeps_the_r4b_primitive_type() -> None:
    for rtype, spec in READS.items():
        model = lean_model(rtype)
        full = get_fhir_model_class(rtype)
        assert model is not None
        aliases = {(f.alias or n): f for n, f in full.model_fields.items()}
        for key, sub in spec.items():
            lean_field = next(f for f in model.model_fields.values() if f.alias == key)
            if key not in aliases:
                continue  # read by a fact builder but not an R4B field of this type: refused (see lean.py)
            if sub is None:
                assert lean_field.annotation == aliases[key].annotation, (rtype, key)


def test_unread_types_have_no_lean_model() -> None:
    assert lean_model("Claim") is None
    assert lean_model("Observation") is not None
