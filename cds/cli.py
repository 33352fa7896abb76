"""The `cds` command line."""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from cds.errors import CdsError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Ketamine/esketamine decision support.")
rules_app = typer.Typer(no_args_is_help=True, help="Read, check and document the rule files.")
schema_app = typer.Typer(no_args_is_help=True, help="Export JSON Schemas of the outputs.")
app.add_typer(rules_app, name="rules")
app.add_typer(schema_app, name="schema")


def _mount_optional() -> None:
    from cds.audit.cli import app as audit_app
    from cds.impact.cli import impact_command
    from cds.population import population_command
    from cds.screen.cli import screen_command
    from cds.terminology.cli import app as terminology_app

    rules_app.command("impact")(impact_command)
    app.command("population")(population_command)

    app.add_typer(audit_app, name="audit", help="Recent decisions and override rates per rule.")
    app.add_typer(terminology_app, name="terminology")
    app.command("screen")(screen_command)


_mount_optional()


class Fmt(StrEnum):
    text = "text"
    json = "json"
    html = "html"


class ProfileOpt(StrEnum):
    us = "us-fda"
    eu = "eu-smpc"


def _fail(exc: Exception) -> NoReturn:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="A FHIR R4 Bundle, a resource file, a folder or NDJSON")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate as if today were YYYY-MM-DD")] = None,
    profile: Annotated[ProfileOpt, typer.Option(help="Labelling jurisdiction")] = ProfileOpt.us,
    fmt: Annotated[
        Fmt, typer.Option("--format", help="text, json (the assessment alone) or html")
    ] = Fmt.text,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also: every rule, fired or not, condition by condition")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Validate every resource with the full FHIR R4B models (slow); "
            "by default only the fields the rules read are validated",
        ),
    ] = False,
) -> None:
    """Assess one patient."""
    from cds.ingest.load import load_resources
    from cds.pipeline import evaluate

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _fail(CdsError(f"--as-of: not a date (YYYY-MM-DD): {as_of!r}"))
    try:
        ev = evaluate(load_resources(path), as_of=day, profile=profile.value, strict=strict)
    except CdsError as exc:
        _fail(exc)
    if fmt is Fmt.json:
        import orjson

        sys.stdout.write(
            orjson.dumps(ev.assessment.to_json_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    elif fmt is Fmt.html:
        from cds.report import render_html

        sys.stdout.write(render_html(ev.assessment, ev.timeline))
    else:
        from cds.render_text import render

        typer.echo(render(ev.assessment))
    if explain:
        from cds.explain import explain_text

        # JSON and HTML keep stdout clean for machines: the explanation goes to stderr.
        typer.echo(("\n" if fmt is Fmt.text else "") + explain_text(ev), err=fmt is not Fmt.text)


@schema_app.command("assessment")
def schema_assessment() -> None:
    """The JSON Schema of the assessment (committed as docs/assessment.schema.json)."""
    import orjson

    from cds.contract.assessment import Assessment

    schema = Assessment.model_json_schema(by_alias=True)
    sys.stdout.write(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n")


@rules_app.command("lint")
def rules_lint(
    folder: Annotated[Path | None, typer.Argument(help="Rules folder (default: rules/)")] = None,
    base: Annotated[
        str | None, typer.Option(help="Also compare rule versions with this git revision (e.g. HEAD)")
    ] = None,
) -> None:
    """Check every rule and knowledge file, and every change since the release lock
    (rules/release.yaml) for its version bump; exit 1 with file:line messages on any problem."""
    from cds.knowledge import Knowledge
    from cds.release import check_release
    from cds.ruleset.lint import unbumped_versions
    from cds.ruleset.loader import RulesetError

    try:
        kb = Knowledge.load(folder)
        problems = check_release(kb)
        if base is not None:
            problems += unbumped_versions(kb.ruleset.rules, kb.ruleset.files, base)
    except RulesetError as exc:
        for p in exc.problems:
            typer.echo(str(p), err=True)
        raise typer.Exit(1) from None
    except CdsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for p in problems:
        typer.echo(str(p), err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{len(kb.ruleset.rules)} rules OK (ruleset {kb.version}, knowledge {kb.hash[:16]})")


@rules_app.command("release")
def rules_release(
    folder: Annotated[Path | None, typer.Argument(help="Rules folder (default: rules/)")] = None,
) -> None:
    """Write the release lock (rules/release.yaml) from the current knowledge, once the committee
    has approved the changes: every rule's version and content hash, every knowledge file's hash."""
    from cds.knowledge import Knowledge
    from cds.release import LOCK_NAME, read_lock, write_lock

    kb = Knowledge.load(folder)
    path = kb.rules_dir / LOCK_NAME
    before = read_lock(path)
    lock = write_lock(kb, path)
    changed = [] if before is None else [r for r, v in lock.rules.items() if before.rules.get(r) != v]
    typer.echo(
        f"released ruleset {lock.ruleset_version}: {len(lock.rules)} rules, {len(lock.files)} files"
        + (f"; {len(changed)} rule(s) new or changed since {before.ruleset_version}" if before else "")
        + f" -> {path}"
    )


@rules_app.command("coverage")
def rules_coverage() -> None:
    """Run the clinical scenarios (features/) and list rules lacking a firing or a non-firing case."""
    import json
    import subprocess

    from cds.knowledge import default_knowledge
    from cds.paths import project_root
    from cds.ruleset.coverage import gaps

    root = project_root()
    if not (root / "tests" / "test_features.py").exists():
        _fail(CdsError("the scenario tests (tests/test_features.py) are not in this installation"))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_features.py", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    data = json.loads((root / "test-artifacts" / "rule-coverage.json").read_text())
    records = data["scenarios"]
    ruleset = default_knowledge().ruleset
    for rule in sorted(ruleset.rules, key=lambda r: r.id):
        tagged = [r for r in records if rule.id in r["tags"]]
        fires = sum(rule.id in r["fired"] for r in tagged)
        typer.echo(
            f"{rule.id:<55} fires in {fires:>2}, silent in {len(tagged) - fires:>2} tagged scenario(s)"
        )
    found = gaps(ruleset, records)
    for g in found:
        typer.echo(f"GAP {g}", err=True)
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not found):
        typer.echo(proc.stdout[-2000:], err=True)
        raise typer.Exit(1)
    if found:
        raise typer.Exit(1)
    typer.echo(f"all {len(ruleset.rules)} rules covered by {len(records)} scenarios")


@rules_app.command("catalogue")
def rules_catalogue() -> None:
    """The rule catalogue as Markdown (committed as docs/RULES.md)."""
    from cds.catalogue import rules_markdown
    from cds.knowledge import default_knowledge

    sys.stdout.write(rules_markdown(default_knowledge()))


@app.command()
def facts() -> None:
    """The facts catalogue as Markdown (committed as docs/FACTS.md)."""
    from cds.catalogue import facts_markdown

    sys.stdout.write(facts_markdown())


@rules_app.command("list")
def rules_list() -> None:
    """Every rule: id, version, profiles, title."""
    from cds.knowledge import default_knowledge

    for r in sorted(default_knowledge().ruleset.rules, key=lambda r: r.id):
        typer.echo(f"{r.id:<55} {r.version:<7} {','.join(r.profiles):<15} {r.title}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (the rules engine holds the GIL)")
    ] = 1,
) -> None:
    """Run the CDS Hooks service (settings from CDS_* environment variables; see README)."""
    from cds.knowledge import default_knowledge
    from cds.ruleset.loader import RulesetError

    try:
        # The knowledge first: a service on an invalid rule set must not start (and answer every
        # call "internal error"); the lint messages say what to fix.
        kb = default_knowledge()
    except RulesetError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo("error: the rule set does not load; the service was not started", err=True)
        raise typer.Exit(2) from None
    except CdsError as exc:
        _fail(exc)
    typer.echo(f"ruleset {kb.stamp}", err=True)
    from cds.service.serve import serve as run
    from cds.service.settings import SettingsError

    try:
        run(host, port, workers)
    except SettingsError as exc:
        _fail(exc)


def main() -> None:
    try:
        app()
    except CdsError as exc:  # anything the commands did not catch themselves
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
