"""Group a FHIR Bulk Data export (NDJSON files per resource type) by patient, streamed.

An export is not sorted by patient and memory must not grow with the population, so this is a
hash partition in two passes. Pass 1 (`scan`, run in parallel over line-aligned byte ranges)
reads each line, finds its patient (Patient.id, or the `subject` / `patient` / `beneficiary`
reference) and hands a `Record` to bucket `crc32(patient) % K`. Pass 2 (`groups`) turns one
bucket at a time into each patient's `Group`. The process pool keeps the buckets in files
(`partition_chunk`, `read_bucket`), read back by the worker that assesses them; the Dask backend
keeps them in the cluster as blobs of the same lines, one per range of buckets (`partition_blobs`).

What is never parsed: files whose name declares a resource type no fact reads (`Encounter.ndjson`,
`1.Claim.ndjson`; the types read are `cds.ingest.validate.USED_TYPES`). Their bytes are still
checked (C-speed counts, no JSON parse) to hold only that type, one resource per line: a file
that does not (a Condition in `Encounter.ndjson`, two resources glued on one line, a blank line)
is read line by line like any other, so a mislabelled file cannot hide a contraindication.
Lines of read types whose code no value set knows (routine labs) are dropped after the parse by
the pipeline's own filter (`Reading.relevant`), as the pipeline would drop them.

A line that cannot be read (bad JSON, no resolvable patient) is never silently lost: it makes
the patients it may name incomplete (a `Record` with `problem`) or, naming none, the whole run.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

import orjson

from cds.ingest.load import RawResource
from cds.screen.worker import Group

BUCKET_BYTES = 32 * 1024 * 1024  # of read-type input per bucket: bounds pass-2 memory
MIN_BUCKETS = 64  # enough partitions to spread over the workers of a small cluster
CHUNK_BYTES = 16 * 1024 * 1024
BLOCK_BYTES = 1024 * 1024  # of a parsed chunk read at a time
FLUSH_BYTES = 1024 * 1024  # bucket lines a pass-1 task holds before appending them to their files
MEDICATIONS = "medications.tsv"
MAX_REPORTED = 20  # unreadable lines named in the summary
_REFERENCE_KEYS = ("subject", "patient", "beneficiary")
_NAME_PARTS = re.compile(r"[._\-]")
_PATIENT_REF = re.compile(rb"Patient/([A-Za-z0-9\-.]{1,64})")
_RESOURCE_TYPE = b'"resourceType"'

# Resource types that hold no patient's data in a Bulk export (shared directory entries).
NOT_PATIENT_DATA = frozenset(
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


@dataclass(frozen=True)
class Reading:
    """What pass 1 needs to know about the facts; passed in, never loaded here."""

    used: frozenset[str]  # resource types some fact reads (cds.ingest.validate.USED_TYPES)
    known: frozenset[str]  # every FHIR R4 resource type
    relevant: Callable[[RawResource], bool]  # the pipeline's filter applied before validation


@dataclass(frozen=True)
class Chunk:
    path: str
    start: int
    end: int
    skip_type: str | None = None  # declared type no fact reads: checked, not parsed


class Record(NamedTuple):
    """A line for a patient, or (`problem` set, `body` empty) an unreadable line that may be theirs."""

    patient: str
    origin: str
    body: bytes
    problem: str = ""


@dataclass
class Scan:
    """What pass 1 saw; merged over chunks."""

    lines: int = 0
    not_parsed: int = 0  # lines of types no fact reads, checked by bytes only
    dropped: int = 0  # parsed, but nothing any fact reads (type or code)
    patients: int = 0  # Patient resources
    unattributed: int = 0  # unreadable lines that name no patient: the run is incomplete
    reported: list[str] = field(default_factory=list)  # the first few unreadable lines, described

    def merge(self, other: Scan) -> None:
        self.lines += other.lines
        self.not_parsed += other.not_parsed
        self.dropped += other.dropped
        self.patients += other.patients
        self.unattributed += other.unattributed
        room = MAX_REPORTED - len(self.reported)
        self.reported.extend(other.reported[: max(room, 0)])

    def report(self, message: str) -> None:
        if len(self.reported) < MAX_REPORTED:
            self.reported.append(message)


def declared_type(path: Path, known: frozenset[str]) -> str | None:
    """The resource type a Bulk Data file's name declares (`Observation.ndjson`, `Observation.003.ndjson`,
    `1.Observation.ndjson`), or None when the name names none or several."""
    name = path.name
    stem = name[: -len(".ndjson")] if name.lower().endswith(".ndjson") else path.stem
    found = {part for part in _NAME_PARTS.split(stem) if part in known}
    return found.pop() if len(found) == 1 else None


def read_bytes(files: Iterable[Path], reading: Reading) -> int:
    """Bytes of the files that will be parsed (what sizes the buckets)."""
    total = 0
    for f in files:
        rtype = declared_type(f, reading.known)
        if rtype is None or rtype in reading.used:
            total += f.stat().st_size
    return total


def bucket_count(read: int) -> int:
    return max(MIN_BUCKETS, -(-read // BUCKET_BYTES))


def bucket_of(patient: str, buckets: int) -> int:
    return zlib.crc32(patient.encode()) % buckets


def chunks(files: list[Path], reading: Reading, size: int = CHUNK_BYTES) -> list[Chunk]:
    """Byte ranges of about `size` (CHUNK_BYTES for files only checked), each starting at the
    beginning of a line."""
    out: list[Chunk] = []
    for f in files:
        rtype = declared_type(f, reading.known)
        skip = rtype if rtype is not None and rtype not in reading.used else None
        out.extend(_ranges(f, skip, CHUNK_BYTES if skip else size))
    return out


def _ranges(f: Path, skip: str | None, size: int) -> Iterator[Chunk]:
    end = f.stat().st_size
    with f.open("rb") as fh:
        start = 0
        while start < end:
            fh.seek(min(start + size, end))
            if fh.tell() < end:
                fh.readline()  # move to the start of the next line
            stop = fh.tell()
            yield Chunk(str(f), start, stop, skip)
            start = stop


def scan(chunk: Chunk, reading: Reading, seen: Scan) -> Iterator[Record | tuple[str, bytes]]:
    """Pass 1 over one byte range: a Record per patient line or unreadable line, and
    (origin, body) for each shared Medication resource. Counts go to `seen`."""
    name = Path(chunk.path).name
    with open(chunk.path, "rb") as fh:
        fh.seek(chunk.start)
        if chunk.skip_type is not None:
            data = fh.read(chunk.end - chunk.start)
            lines = lines_of_type(data, chunk.skip_type)
            if lines is not None:
                seen.lines += lines
                seen.not_parsed += lines
                return
            blocks: Iterable[bytes] = (data,)
        else:
            blocks = _blocks(fh, chunk.end - chunk.start)
        offset = chunk.start
        for block in blocks:
            for line in block.splitlines(keepends=True):
                where = offset
                offset += len(line)
                body = line.strip()
                if not body:
                    continue
                seen.lines += 1
                yield from _read_line(body, f"{name} byte {where}", reading, seen)


def checked(chunk: Chunk) -> Scan | None:
    """What `scan` sees of a chunk of a type no fact reads when the byte check passes (counts, no
    record), or None when it does not (`scan` then reads it line by line). Needs no knowledge."""
    assert chunk.skip_type is not None
    with open(chunk.path, "rb") as fh:
        fh.seek(chunk.start)
        data = fh.read(chunk.end - chunk.start)
    lines = lines_of_type(data, chunk.skip_type)
    return None if lines is None else Scan(lines=lines, not_parsed=lines)


def _blocks(fh: BinaryIO, size: int) -> Iterator[bytes]:
    """`size` bytes of `fh` in blocks of about BLOCK_BYTES, each ending at a line end (the lines
    split as the whole range would; only a block is in memory, not the chunk and its lines)."""
    left = size
    while left > 0:
        block = fh.read(min(BLOCK_BYTES, left))
        if not block:
            return
        left -= len(block)
        if left > 0 and not block.endswith(b"\n"):
            rest = fh.readline(left)
            block += rest
            left -= len(rest)
        yield block


def only_of_type(data: bytes, rtype: str) -> bool:
    """Every line of `data` starts `{"resourceType":"<rtype>"` (compact, or with a space after the
    colon) and names no other resource type, checked without parsing. False (read it line by
    line) on anything else, blank lines included."""
    return lines_of_type(data, rtype) is not None


def lines_of_type(data: bytes, rtype: str) -> int | None:
    """The lines of `data` when `only_of_type` holds, else None (three C-speed counts, no parse)."""
    for sep in (b":", b": "):
        head = b'{"resourceType"' + sep + b'"' + rtype.encode() + b'"'
        if data.startswith(head):
            lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            starts = 1 + data.count(b"\n" + head)
            return lines if starts == lines and data.count(_RESOURCE_TYPE) == lines else None
    return None


def _read_line(
    body: bytes, origin: str, reading: Reading, seen: Scan
) -> Iterator[Record | tuple[str, bytes]]:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        yield from _unreadable(body, origin, f"not valid JSON ({exc})", seen)
        return
    if not isinstance(obj, dict):
        yield from _unreadable(body, origin, "not a FHIR resource (a JSON object)", seen)
        return
    rtype = obj.get("resourceType")
    if rtype == "Medication":
        yield (origin, body)
        return
    if rtype == "Bundle":
        yield from _unreadable(body, origin, "a Bundle inside a Bulk Data file (one resource per line)", seen)
        return
    pid = patient_of(obj)
    unread = isinstance(rtype, str) and rtype in reading.known and rtype not in reading.used
    if pid is None:
        if unread or rtype in NOT_PATIENT_DATA:
            seen.dropped += 1
        else:
            yield from _unreadable(b"", origin, f"{rtype} names no patient it belongs to", seen)
        return
    if rtype == "Patient":
        seen.patients += 1
    if unread or (rtype in reading.used and not reading.relevant(RawResource(obj, origin))):
        seen.dropped += 1
        return
    yield Record(pid, origin, body)


def _unreadable(body: bytes, origin: str, problem: str, seen: Scan) -> Iterator[Record]:
    """The patients an unreadable line may belong to (every `Patient/<id>` it names), or none."""
    message = f"{origin}: {problem}"
    seen.report(message)
    named = sorted({m.decode() for m in _PATIENT_REF.findall(body)})
    if not named:
        seen.unattributed += 1
    for pid in named:
        yield Record(pid, origin, b"", problem)


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
    # split() splits on exactly what str.isspace() calls whitespace, in C (a per-character loop
    # in Python cost about 1 µs a line in pass 1).
    return pid if pid.split() == [pid] else None


def group_records(records: Iterable[Record]) -> list[Group]:
    """One bucket's records as each patient's Group, patients sorted (the order rows come in)."""
    lines: dict[str, list[tuple[str, bytes]]] = {}
    problems: dict[str, list[str]] = {}
    for r in records:
        if r.problem:
            problems.setdefault(r.patient, []).append(f"{r.origin}: {r.problem}")
            lines.setdefault(r.patient, [])
        else:
            lines.setdefault(r.patient, []).append((r.origin, r.body))
    return [Group(pid, tuple(lines[pid]), tuple(problems.get(pid, ()))) for pid in sorted(lines)]


# --- one bucket record per line: `patient \t origin \t problem \t body` -------------------------------


def encode(record: Record) -> bytes:
    """A record as one bucket line (the body is one NDJSON line: it holds no newline)."""
    origin = _one_field(record.origin).encode()
    return (
        b"\t".join((record.patient.encode(), origin, _one_field(record.problem).encode(), record.body))
        + b"\n"
    )


def _one_field(text: str) -> str:
    # A file name or a message may hold a tab or a line break; a bucket line may not.
    return text if text.isprintable() else "".join(c if c.isprintable() else " " for c in text)


def decode(data: bytes) -> Iterator[Record]:
    """The records of bucket lines (a bucket file, or a blob of them)."""
    for line in data.splitlines():
        pid, origin, problem, body = line.split(b"\t", 3)
        yield Record(pid.decode(), origin.decode(), body, problem.decode())


# --- the process pool's buckets: files in a local temporary folder --------------------------------


def partition_chunk(chunk: Chunk, reading: Reading, folder: str, buckets: int, tag: str) -> Scan:
    """Pass 1 over one byte range, appending each record to its bucket file (`tag`: one writer
    process per file, so appends never interleave). Lines are gathered per bucket and written
    together (one write per bucket touched, not one per line), every FLUSH_BYTES: memory stays
    flat whatever the chunk size."""
    seen = Scan()
    by_bucket: dict[int, list[bytes]] = {}
    meds: list[bytes] = []
    held = 0
    for item in scan(chunk, reading, seen):
        if isinstance(item, Record):
            line = encode(item)
            by_bucket.setdefault(bucket_of(item.patient, buckets), []).append(line)
            held += len(line)
            if held >= FLUSH_BYTES:
                _flush(by_bucket, folder, tag)
                held = 0
        else:
            meds.append(item[0].encode() + b"\t" + item[1] + b"\n")
    _flush(by_bucket, folder, tag)
    if meds:
        with open(os.path.join(folder, f"{MEDICATIONS}.{tag}"), "ab") as out:
            out.write(b"".join(meds))
    return seen


def _flush(by_bucket: dict[int, list[bytes]], folder: str, tag: str) -> None:
    for k, lines in by_bucket.items():
        with open(bucket_path(folder, k, tag), "ab") as out:
            out.write(b"".join(lines))
    by_bucket.clear()


def bucket_path(folder: str | Path, k: int, tag: str) -> str:
    return os.path.join(folder, f"b{k:05d}.{tag}")


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


def bucket_files(folder: Path, k: int) -> list[Path]:
    return sorted(folder.glob(f"b{k:05d}.*"))


def read_bucket(folder: Path, k: int) -> list[Group]:
    """Bucket `k`'s patients as Groups, patients sorted; its files are left in place."""
    return group_records(r for part in bucket_files(folder, k) for r in decode(part.read_bytes()))


def drop_bucket(folder: Path, k: int) -> None:
    for part in bucket_files(folder, k):
        part.unlink()


def bucket_groups(folder: Path, buckets: int) -> Iterator[Group]:
    """Pass 2 in one process: each patient's Group, one bucket in memory at a time, in bucket then
    patient order; each bucket's files are removed once read."""
    for k in range(buckets):
        groups = read_bucket(folder, k)
        drop_bucket(folder, k)
        yield from groups


# --- the Dask backend's buckets: blobs of bucket lines, moved by the cluster ----------------------


PARSE_WEIGHT = 6  # a parsed byte costs pass 1 about 6 times a byte only checked (9.5 against 1.2-2.3 ns)


def deal(chunks_: list[Chunk], parts: int, done: Container[tuple[str, int]] = ()) -> list[bytes]:
    """`chunks_` not in `done` ((path, start): checked already) in up to `parts` tasks of even
    work, each encoded as JSON bytes (Dask's graph would take nested containers of dataclasses
    apart): each chunk, costliest first, goes to the task with the least work so far (a parsed
    byte weighs PARSE_WEIGHT, a checked one 1), so no worker waits long for the last task at the
    end of pass 1. The parsed chunks first, and the tasks ordered by them, costliest first: which
    were done moves only checked chunks. Chunks in file order within a task."""
    index = {(c.path, c.start): n for n, c in enumerate(chunks_)}
    parsed = [c for c in chunks_ if c.skip_type is None]
    rest = [c for c in chunks_ if c.skip_type is not None and (c.path, c.start) not in done]
    parts = max(1, min(parts, len(parsed) + len(rest)))
    load = [0] * parts
    dealt: list[list[Chunk]] = [[] for _ in range(parts)]

    def place(group: list[Chunk]) -> None:
        for c in sorted(group, key=_cost, reverse=True):  # stable: ties keep file order
            i = load.index(min(load))
            load[i] += _cost(c)
            dealt[i].append(c)

    place(parsed)
    order = sorted(range(parts), key=lambda i: -load[i])
    place(rest)
    return [
        orjson.dumps(
            [
                [c.path, c.start, c.end, c.skip_type]
                for c in sorted(dealt[i], key=lambda c: index[c.path, c.start])
            ]
        )
        for i in order
        if dealt[i]
    ]


def _cost(c: Chunk) -> int:
    return (c.end - c.start) * (1 if c.skip_type else PARSE_WEIGHT)


def bucket_ranges(buckets: int, parts: int) -> list[range]:
    """Buckets 0..buckets-1 cut into `parts` contiguous ranges (rows come back in bucket order)."""
    parts = max(1, min(parts, buckets))
    cuts = [round(i * buckets / parts) for i in range(parts + 1)]
    return [range(cuts[i], cuts[i + 1]) for i in range(parts)]


class Partitioned(NamedTuple):
    """Pass 1 over one dealt part, in memory: a blob of bucket lines per range of buckets (the
    ranges of `bucket_ranges`), the shared Medication lines, and what was seen."""

    blobs: tuple[bytes, ...]
    medications: tuple[tuple[str, bytes], ...]
    seen: tuple[tuple[tuple[str, int], Scan], ...]  # each chunk's, by (path, start): merged in file order


def partition_blobs(part: bytes, reading: Reading, buckets: int, parts: int) -> Partitioned:
    ranges = bucket_ranges(buckets, parts)
    which = [0] * buckets
    for i, r in enumerate(ranges):
        for k in r:
            which[k] = i
    out: list[list[bytes]] = [[] for _ in ranges]
    meds: list[tuple[str, bytes]] = []
    seen: list[tuple[tuple[str, int], Scan]] = []
    for chunk in (Chunk(*c) for c in orjson.loads(part)):
        seen.append(((chunk.path, chunk.start), Scan()))
        for item in scan(chunk, reading, seen[-1][1]):
            if isinstance(item, Record):
                out[which[bucket_of(item.patient, buckets)]].append(encode(item))
            else:
                meds.append(item)
    return Partitioned(tuple(b"".join(lines) for lines in out), tuple(meds), tuple(seen))


def blob_buckets(blobs: Iterable[bytes], buckets: int) -> dict[int, list[Group]]:
    """Pass 2 over one range of buckets: each bucket's Groups (patients sorted), by bucket."""
    by_bucket: dict[int, list[Record]] = {}
    for blob in blobs:
        for r in decode(blob):
            by_bucket.setdefault(bucket_of(r.patient, buckets), []).append(r)
    return {k: group_records(by_bucket[k]) for k in sorted(by_bucket)}
