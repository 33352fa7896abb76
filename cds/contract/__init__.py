"""The bottom layer: the data types every other layer may import and none may redefine.

- `assessment`: the stable JSON output (../shared/contract/ASSESSMENT.md) and the concept vocabulary;
- `timeline`: the dated series the clinician's report draws;
- `facts`: the clinical facts, the vocabulary rules are written in (docs/FACTS.md).

Pure pydantic models: nothing here imports another part of cds.
"""
