"""Work done in the worker processes: assess one patient record and turn it into a Row.

Every failure of one record becomes that record's row (`error`), never an exception that stops
the run: a CdsError gives its own one-line message, anything else its type and message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from cds.contract.assessment import Profile
from cds.errors import CdsError
from cds.ingest.load import RawResource, flatten, load_resources
from cds.screen.rows import Row, error_row, row_from

MAX_ERROR = 300  # characters of an error kept in a row


@dataclass(frozen=True)
class Settings:
    as_of: date
    profile: Profile
    medications: Path | None = None  # shared Medication resources of a Bulk Data export


@dataclass(frozen=True)
class Group:
    """One patient's lines from a Bulk Data export: (origin, raw NDJSON line)."""

    patient: str
    lines: tuple[tuple[str, bytes], ...]


def assess_files(paths: list[str], settings: Settings) -> list[Row]:
    return [_guard(Path(p).name, Path(p).name, lambda p=p: _assess_file(Path(p), settings)) for p in paths]


def assess_groups(groups: list[Group], settings: Settings) -> list[Row]:
    return [_guard(g.patient, "bulk export", lambda g=g: _assess_group(g, settings)) for g in groups]


def _guard(patient: str, source: str, work: Any) -> Row:
    try:
        row: Row = work()
        return row
    except CdsError as exc:
        return error_row(patient, source, str(exc)[:MAX_ERROR])
    except Exception as exc:
        return error_row(patient, source, f"internal error ({type(exc).__name__}): {exc}"[:MAX_ERROR])


def _assess_file(path: Path, settings: Settings) -> Row:
    from cds.pipeline import assess

    return row_from(assess(load_resources(path), as_of=settings.as_of, profile=settings.profile), path.name)


def _assess_group(group: Group, settings: Settings) -> Row:
    from cds.pipeline import assess

    resources: list[RawResource] = []
    for origin, line in group.lines:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise CdsError(f"{origin}: not valid JSON ({exc})") from None
        resources.extend(flatten(obj, origin))
    resources.extend(_referenced_medications(resources, settings.medications))
    return row_from(assess(resources, as_of=settings.as_of, profile=settings.profile), "bulk export")


def _referenced_medications(resources: list[RawResource], path: Path | None) -> list[RawResource]:
    """Medication resources (no patient of their own) that this patient's records point to."""
    if path is None:
        return []
    shared = _medications(str(path))
    out: list[RawResource] = []
    seen: set[str] = set()
    for res in resources:
        ref = res.data.get("medicationReference")
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str) or target.startswith("#"):
            continue
        mid = target.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        if mid in shared and mid not in seen:
            seen.add(mid)
            out.append(shared[mid])
    return out


@cache
def _medications(path: str) -> dict[str, RawResource]:
    # Medications scale with the formulary, not the population: held in memory once per worker.
    out: dict[str, RawResource] = {}
    with open(path, "rb") as fh:
        for line in fh:
            origin, _, data = line.rstrip(b"\n").partition(b"\t")
            obj = orjson.loads(data)
            out[str(obj.get("id"))] = RawResource(obj, origin.decode())
    return out
