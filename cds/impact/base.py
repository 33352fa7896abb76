"""Where the base knowledge comes from: a folder, or a git revision exported to a temporary folder."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cds.errors import InputError

KNOWLEDGE_FOLDERS = ("rules", "fhir")


@dataclass(frozen=True)
class Folders:
    rules: Path
    fhir: Path
    label: str


def from_folder(folder: Path, working_fhir: Path) -> Folders:
    """A checkout-like folder (with `rules/`, and `fhir/` if its value sets differ) or a rules folder
    itself (holding `settings.yaml`); a missing `fhir/` means the working tree's."""
    if (folder / "rules").is_dir():
        fhir = folder / "fhir"
        return Folders(folder / "rules", fhir if fhir.is_dir() else working_fhir, str(folder))
    if (folder / "settings.yaml").is_file():
        return Folders(folder, working_fhir, str(folder))
    raise InputError("not a knowledge folder: expected rules/ in it, or settings.yaml", location=str(folder))


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except OSError as exc:
        raise InputError(f"git is not available ({exc.strerror})") from None


@contextmanager
def from_git(revision: str, repo: Path, working_fhir: Path) -> Iterator[Folders]:
    """`rules/` and `fhir/` of `revision` (git archive) in a temporary folder removed afterwards;
    a revision without `fhir/` uses the working tree's."""
    listing = _git(repo, "ls-tree", "--name-only", revision)
    if listing.returncode != 0:
        why = listing.stderr.decode(errors="replace").strip().splitlines()
        raise InputError(
            f"--base {revision}: neither a folder nor a git revision of {repo}"
            + (f" ({why[-1]})" if why else "")
        )
    present = [n for n in KNOWLEDGE_FOLDERS if n in listing.stdout.decode().splitlines()]
    if "rules" not in present:
        raise InputError(f"--base {revision}: that revision has no rules/ folder")
    archive = _git(repo, "archive", "--format=tar", revision, "--", *present)
    if archive.returncode != 0:
        raise InputError(
            f"--base {revision}: git archive failed ({archive.stderr.decode(errors='replace').strip()})"
        )
    with tempfile.TemporaryDirectory(prefix="cds-impact-base-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout), mode="r:") as tar:
            tar.extractall(tmp, filter="data")
        root = Path(tmp)
        yield Folders(root / "rules", root / "fhir" if "fhir" in present else working_fhir, revision)


@contextmanager
def resolve(base: str, working_rules: Path, working_fhir: Path) -> Iterator[Folders]:
    """`base` as a folder if one exists by that name, else as a git revision of the working tree's repo."""
    path = Path(base)
    if path.is_dir():
        yield from_folder(path, working_fhir)
        return
    with from_git(base, _repo_of(working_rules), working_fhir) as folders:
        yield folders


def _repo_of(rules: Path) -> Path:
    proc = subprocess.run(
        ["git", "-C", str(rules), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise InputError(f"the rules folder {rules} is not in a git repository: give --base a folder instead")
    return Path(proc.stdout.strip())
