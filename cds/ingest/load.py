"""Read FHIR R4 input into resource dicts: a Bundle (any type), a single resource, a folder of
resource files, or Bulk Data NDJSON. Only JSON parsing happens here (orjson); validation of the
resource types the engine uses happens in `cds.ingest.validate`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cds.errors import InputError


@dataclass(frozen=True, slots=True)
class RawResource:
    data: dict[str, Any]
    origin: str  # where it came from, for error messages: "file.json entry[3]"
    full_url: str | None = None  # Bundle entry.fullUrl: references may use it (urn:uuid:...)

    @property
    def type(self) -> str:
        return str(self.data.get("resourceType"))

    @property
    def ref(self) -> str:
        return f"{self.type}/{self.data.get('id')}"


def load_resources(path: str | Path) -> list[RawResource]:
    """Every resource under `path`, Bundles unwrapped, in a stable order."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", location=str(p))
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in {".json", ".ndjson"})
        if not files:
            raise InputError("folder holds no .json or .ndjson files", location=str(p))
        out: list[RawResource] = []
        for f in files:
            out.extend(_load_file(f))
        return out
    return _load_file(p)


def _load_file(path: Path) -> list[RawResource]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", location=str(path)) from exc
    if path.suffix.lower() == ".ndjson":
        return list(_ndjson(raw, path.name))
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc})", location=path.name) from exc
    return flatten(obj, path.name)


def _ndjson(raw: bytes, name: str) -> Iterator[RawResource]:
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc})", location=f"{name} line {lineno}") from exc
        yield from flatten(obj, f"{name} line {lineno}")


def flatten(obj: object, origin: str = "input") -> list[RawResource]:
    """A resource dict, or a Bundle's entries (recursively for nested Bundles), as RawResources."""
    if not isinstance(obj, dict):
        raise InputError("expected a FHIR resource (a JSON object)", location=origin)
    rtype = obj.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise InputError("missing resourceType", location=origin)
    if rtype != "Bundle":
        return [RawResource(_with_id(obj, None), origin)]
    entries = obj.get("entry") or []
    if not isinstance(entries, list):
        raise InputError("Bundle.entry must be a list", location=origin)
    out: list[RawResource] = []
    for i, entry in enumerate(entries):
        where = f"{origin} entry[{i}]"
        if not isinstance(entry, dict):
            raise InputError("Bundle entry must be an object", location=where)
        resource = entry.get("resource")
        if resource is None:
            continue  # e.g. a transaction-response or a DELETE: no resource to use
        if not isinstance(resource, dict):
            raise InputError("entry.resource must be an object", location=where)
        if resource.get("resourceType") == "Bundle":
            out.extend(flatten(resource, where))
            continue
        full_url = entry.get("fullUrl")
        out.append(
            RawResource(_with_id(resource, full_url), where, full_url if isinstance(full_url, str) else None)
        )
    return out


def _with_id(resource: dict[str, Any], full_url: object) -> dict[str, Any]:
    # Transaction bundles may carry the identity only in fullUrl (urn:uuid:...); references use it.
    if resource.get("id") or not isinstance(full_url, str):
        return resource
    return {**resource, "id": full_url.rsplit(":", 1)[-1].rsplit("/", 1)[-1]}
