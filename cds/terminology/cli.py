"""`cds terminology ...`: rebuild value-set expansions, check codes, write the catalogue, ask a server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cds.paths import fhir_dir, project_root
from cds.terminology import expansions, governance

app = typer.Typer(
    help="Value sets: expansions, code checks, catalogue, terminology server.", no_args_is_help=True
)


def _sources(sources: Path | None) -> Path:
    found = sources or expansions.find_sources_dir(project_root())
    if found is None or not found.is_dir():
        typer.echo(
            "error: the public expansions folder (../shared/terminology) was not found; pass --sources",
            err=True,
        )
        raise typer.Exit(2)
    return found


@app.command()
def build(
    sources: Annotated[Path | None, typer.Option(help="Folder of public ValueSet expansions")] = None,
    check: Annotated[bool, typer.Option("--check", help="Only report files that are not current")] = False,
) -> None:
    """Rebuild `expansion` in every fhir/valuesets/*.json from its compose and fhir/expansion-sources.yaml."""
    folder = fhir_dir() / "valuesets"
    try:
        new = expansions.build_all(folder, fhir_dir() / "expansion-sources.yaml", _sources(sources))
    except expansions.BuildError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    stale = [p for p, text in new.items() if p.read_text() != text]
    if check:
        for p in stale:
            typer.echo(
                f"{p.relative_to(project_root())}: expansion not current (run `cds terminology build`)"
            )
        raise typer.Exit(1 if stale else 0)
    for p in stale:
        p.write_text(new[p])
    typer.echo(f"{len(new)} value sets, {len(stale)} rewritten")


@app.command()
def lint() -> None:
    """Check every code's format for its system; list overlaps between value sets."""
    folder = fhir_dir() / "valuesets"
    problems = governance.check_formats(folder)
    for p in problems:
        typer.echo(str(p))
    for o in governance.overlaps(folder):
        typer.echo(
            f"overlap: {o.a} and {o.b} share {len(o.codes)} code(s): {', '.join(o.codes[:6])}", err=True
        )
    raise typer.Exit(1 if problems else 0)


@app.command()
def catalogue() -> None:
    """The value-set catalogue (committed as docs/VALUESETS.md)."""
    sys.stdout.write(governance.catalogue(fhir_dir() / "valuesets"))


@app.command()
def lookup(
    system: str,
    code: str,
    url: Annotated[
        str | None, typer.Option(envvar="CDS_TERMINOLOGY_URL", help="FHIR terminology server")
    ] = None,
) -> None:
    """Where a code lands: the committed value sets, then (if configured) the terminology server."""
    from cds.terminology.server import TerminologyClient
    from cds.terminology.valuesets import load_valuesets

    vs = load_valuesets()
    hits = [m for vs_id in vs.ids() if (m := vs.match_coding(vs_id, system, code))]
    for m in hits:
        typer.echo(f"{m.valueset}: {m.display} (by {m.by})")
    if not hits:
        typer.echo("in no value set")
    if url:
        with TerminologyClient(url) as client:
            info = client.lookup(vs.system(system), code)
            typer.echo(f"server: {info.display if info else 'no answer'}")


if __name__ == "__main__":
    app()
