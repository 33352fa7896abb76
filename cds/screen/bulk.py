"""Group a FHIR Bulk Data export (NDJSON files per resource type) by patient, streamed.

Memory must not grow with the population, and an export is not sorted by patient. So this is a
hash partition (a "grace hash" group-by), done in two passes:

1. `partition_chunk` (run in parallel over line-aligned byte ranges of every file) parses each
   line once, finds its patient (Patient.id, or the `subject` / `patient` / `beneficiary`
   reference) and appends `patient<TAB>origin<TAB>line` to one of K bucket files chosen by a
   hash of the patient id. Medication resources (no patient; referenced by id) go to a
   separate file. K is chosen so that one bucket is about `BUCKET_BYTES`.
2. `groups` reads one bucket at a time and yields each patient's lines.

Peak memory is one bucket plus the work in flight, whatever the population; the cost is one extra
JSON parse per line and one copy of the export on local disk (in a temporary folder).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from cds.screen.worker import Group

BUCKET_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 16 * 1024 * 1024
MEDICATIONS = "medications.tsv"
_REFERENCE_KEYS = ("subject", "patient", "beneficiary")
MAX_REPORTED = 20  # unattributed lines named in the summary


@dataclass(frozen=True)
class Chunk:
    path: str
    start: int
    end: int


@dataclass
class Partitioned:
    patients: int = 0
    lines: int = 0
    unattributed: list[str] = field(default_factory=list)

    def merge(self, other: Partitioned) -> None:
        self.patients += other.patients
        self.lines += other.lines
        room = MAX_REPORTED - len(self.unattributed)
        self.unattributed.extend(other.unattributed[: max(room, 0)])


def bucket_count(files: list[Path]) -> int:
    total = sum(f.stat().st_size for f in files)
    return max(1, -(-total // BUCKET_BYTES))


def chunks(files: list[Path], size: int = CHUNK_BYTES) -> list[Chunk]:
    """Byte ranges of about `size`, each starting at the beginning of a line."""
    out: list[Chunk] = []
    for f in files:
        end = f.stat().st_size
        with f.open("rb") as fh:
            start = 0
            while start < end:
                fh.seek(min(start + size, end))
                if fh.tell() < end:
                    fh.readline()  # move to the start of the next line
                stop = fh.tell()
                out.append(Chunk(str(f), start, stop))
                start = stop
    return out


def patient_of(obj: dict[str, object]) -> str | None:
    """The patient a resource belongs to (its compartment), or None."""
    if obj.get("resourceType") == "Patient":
        pid = obj.get("id")
        return _clean_id(pid) if isinstance(pid, str) else None
    for key in _REFERENCE_KEYS:
        ref = obj.get(key)
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str):
            continue
        if target.startswith("urn:uuid:"):
            return _clean_id(target[9:])
        if target.startswith("Patient/") or "/Patient/" in target:
            return _clean_id(target.rsplit("Patient/", 1)[-1].split("/", 1)[0])
    return None


def _clean_id(pid: str) -> str | None:
    # Bucket lines are tab-separated; an id with whitespace is not a FHIR id anyway.
    return pid if pid and not any(c.isspace() for c in pid) else None


def partition_chunk(chunk: Chunk, folder: str, buckets: int, tag: str) -> Partitioned:
    """Pass 1 over one byte range: append each line to its patient's bucket file."""
    result = Partitioned()
    handles: dict[int, object] = {}
    name = Path(chunk.path).name
    meds = open(os.path.join(folder, f"{MEDICATIONS}.{tag}"), "ab")  # noqa: SIM115 - closed in finally
    try:
        with open(chunk.path, "rb") as fh:
            fh.seek(chunk.start)
            offset = chunk.start
            while offset < chunk.end:
                line = fh.readline()
                if not line:
                    break
                where = f"{name} byte {offset}"
                offset += len(line)
                body = line.strip()
                if not body:
                    continue
                result.lines += 1
                try:
                    obj = orjson.loads(body)
                except orjson.JSONDecodeError as exc:
                    _unattributed(result, f"{where}: not valid JSON ({exc})")
                    continue
                if not isinstance(obj, dict):
                    _unattributed(result, f"{where}: not a FHIR resource")
                    continue
                if obj.get("resourceType") == "Medication":
                    meds.write(where.encode() + b"\t" + body + b"\n")
                    continue
                pid = patient_of(obj)
                if pid is None:
                    if obj.get("resourceType") not in _NOT_PATIENT_DATA:
                        _unattributed(result, f"{where}: {obj.get('resourceType')} names no patient")
                    continue
                if obj.get("resourceType") == "Patient":
                    result.patients += 1
                k = zlib.crc32(pid.encode()) % buckets
                out = handles.get(k)
                if out is None:
                    out = handles[k] = open(os.path.join(folder, f"b{k:05d}.{tag}"), "ab")  # noqa: SIM115
                out.write(pid.encode() + b"\t" + where.encode() + b"\t" + body + b"\n")  # type: ignore[attr-defined]
    finally:
        meds.close()
        for h in handles.values():
            h.close()  # type: ignore[attr-defined]
    return result


# Resource types that hold no patient's data in a Bulk export (shared directory entries).
_NOT_PATIENT_DATA = frozenset(
    {
        "Organization",
        "Practitioner",
        "PractitionerRole",
        "Location",
        "Device",
        "Group",
        "Substance",
        "HealthcareService",
        "Endpoint",
    }
)


def _unattributed(result: Partitioned, message: str) -> None:
    if len(result.unattributed) < MAX_REPORTED:
        result.unattributed.append(message)


def merge_medications(folder: Path) -> Path | None:
    parts = sorted(folder.glob(f"{MEDICATIONS}.*"))
    if not any(p.stat().st_size for p in parts):
        return None
    target = folder / MEDICATIONS
    with target.open("wb") as out:
        for p in parts:
            out.write(p.read_bytes())
            p.unlink()
    return target


def groups(folder: Path, buckets: int) -> Iterator[Group]:
    """Pass 2: each patient's lines, one bucket in memory at a time, patients sorted within it."""
    for k in range(buckets):
        by_patient: dict[str, list[tuple[str, bytes]]] = {}
        for part in sorted(folder.glob(f"b{k:05d}.*")):
            with part.open("rb") as fh:
                for line in fh:
                    key, origin, body = line.rstrip(b"\n").split(b"\t", 2)
                    by_patient.setdefault(key.decode(), []).append((origin.decode(), body))
            part.unlink()
        for pid in sorted(by_patient):
            yield Group(pid, tuple(by_patient.pop(pid)))
