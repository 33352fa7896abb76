"""Work done in the worker processes (pool or Dask): assess one patient record and turn it into a Row.

Every failure of one record becomes that record's row (`error`), never an exception that stops
the run: a CdsError gives its own one-line message, anything else its type and message. The
ruleset is compiled once per worker process (`warm`), never per task.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache, partial
from pathlib import Path

import orjson

from cds.contract.assessment import Profile
from cds.errors import CdsError, InputError, KnowledgeError
from cds.ingest.load import RawResource, flatten
from cds.screen.rows import Row, error_row, incomplete_row, row_from

MAX_ERROR = 300  # characters of an error kept in a row
_WARMED: list[int] = []  # how often this process compiled the ruleset (tests: once)


@dataclass(frozen=True)
class Settings:
    as_of: date
    profile: Profile
    medications: Path | None = None  # shared Medication resources of a Bulk Data export (pool path)
    run_incomplete: str | None = None  # unreadable input no patient could be given: no row may clear


@dataclass(frozen=True)
class Group:
    """One patient's lines from a Bulk Data export: (origin, raw NDJSON line), and the unreadable
    lines that may be theirs."""

    patient: str
    lines: tuple[tuple[str, bytes], ...]
    problems: tuple[str, ...] = ()


def warm() -> int:
    """Compile the ruleset in this process now (a Dask worker's start, a pool process's first task)."""
    if not _WARMED:
        from cds.knowledge import default_knowledge

        try:
            default_knowledge()
        except KnowledgeError as exc:
            # Raised in a worker, it must reach the command as it is: a subclass with arguments of
            # its own (RuleFileError) does not unpickle there, and the pool took it for a dead worker.
            raise KnowledgeError(str(exc)) from None
        _WARMED.append(os.getpid())
    return len(_WARMED)


def warmed() -> int:
    return len(_WARMED)


def assess_files(paths: list[str], settings: Settings) -> list[Row | None]:
    """A row per bundle file; None for a file that is not a patient record (a CDS Hooks request)."""
    warm()
    return [_guard(Path(p).name, Path(p).name, partial(_assess_file, Path(p), settings)) for p in paths]


def assess_groups(groups: list[Group], settings: Settings) -> list[Row]:
    return assess_groups_with(groups, settings, shared_medications(settings))


BucketPart = int | tuple[int, tuple[str, ...]]  # a whole bucket, or the named patients of one


def assess_buckets(parts: list[BucketPart], args: tuple[Settings, str]) -> list[Row]:
    """The rows of the patients in these buckets of the pool's temporary folder (read here, in the
    worker: the parent process never reads or sends a patient's lines), in bucket then patient
    order; a part naming patients (a re-run after a worker died) assesses only those."""
    from cds.screen.bulk import read_bucket

    settings, folder = args
    meds = shared_medications(settings)
    rows: list[Row] = []
    for part in parts:
        k, only = (part, None) if isinstance(part, int) else part
        groups = read_bucket(Path(folder), k)
        if only is not None:
            wanted = set(only)
            groups = [g for g in groups if g.patient in wanted]
        rows.extend(assess_groups_with(groups, settings, meds))
    return rows


def shared_medications(settings: Settings) -> Mapping[str, RawResource]:
    return _medications(str(settings.medications)) if settings.medications else {}


def assess_groups_with(
    groups: list[Group], settings: Settings, medications: Mapping[str, RawResource]
) -> list[Row]:
    warm()
    rows: list[Row] = []
    for g in groups:
        row = _guard(g.patient, "bulk export", partial(_assess_group, g, settings, medications))
        assert row is not None
        if g.problems:
            row = incomplete_row(row, "unreadable lines may belong to this patient: " + "; ".join(g.problems))
        if settings.run_incomplete:
            row = incomplete_row(row, settings.run_incomplete)
        rows.append(row)
    return rows


def _guard(patient: str, source: str, work: Callable[[], Row | None]) -> Row | None:
    try:
        return work()
    except CdsError as exc:
        return error_row(patient, source, str(exc)[:MAX_ERROR])
    except Exception as exc:
        return error_row(patient, source, f"internal error ({type(exc).__name__}): {exc}"[:MAX_ERROR])


def is_hook_request(obj: object) -> bool:
    """A CDS Hooks request (`hook`, `hookInstance`, `context`), not a FHIR resource."""
    return isinstance(obj, dict) and "resourceType" not in obj and "hook" in obj and "hookInstance" in obj


def _assess_file(path: Path, settings: Settings) -> Row | None:
    from cds.pipeline import evaluate

    try:
        obj = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", location=path.name) from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc})", location=path.name) from None
    if is_hook_request(obj):
        return None
    evaluation = evaluate(flatten(obj, path.name), as_of=settings.as_of, profile=settings.profile)
    return row_from(evaluation.assessment, path.name, [f.rule_id for f in evaluation.firings])


def _assess_group(group: Group, settings: Settings, medications: Mapping[str, RawResource]) -> Row:
    from cds.pipeline import evaluate

    if not group.lines:
        raise CdsError("no readable record names this patient")
    resources: list[RawResource] = []
    for origin, line in group.lines:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise CdsError(f"{origin}: not valid JSON ({exc})") from None
        resources.extend(flatten(obj, origin))
    resources.extend(_referenced_medications(resources, medications))
    # Pass 1 kept only the lines the pipeline's filter keeps (`cds.screen.prefilter`); evaluate
    # judges them again (about 0.06 ms a patient), so no caller can skip the filter by mistake.
    evaluation = evaluate(resources, as_of=settings.as_of, profile=settings.profile)
    return row_from(evaluation.assessment, "bulk export", [f.rule_id for f in evaluation.firings])


def _referenced_medications(
    resources: list[RawResource], shared: Mapping[str, RawResource]
) -> list[RawResource]:
    """Medication resources (no patient of their own) that this patient's records point to."""
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


def medications_from(lines: list[tuple[str, bytes]]) -> dict[str, RawResource]:
    out: dict[str, RawResource] = {}
    for origin, data in lines:
        obj = orjson.loads(data)
        out[str(obj.get("id"))] = RawResource(obj, origin)
    return out


@cache
def _medications(path: str) -> dict[str, RawResource]:
    # Medications scale with the formulary, not the population: held in memory once per worker.
    lines: list[tuple[str, bytes]] = []
    with open(path, "rb") as fh:
        for line in fh:
            origin, _, data = line.rstrip(b"\n").partition(b"\t")
            lines.append((origin.decode(), data))
    return medications_from(lines)
