"""``cds audit``: recent decisions and override rates per rule, from the audit database.

SQLAlchemy is imported when the command runs, not when the CLI is built: `cds --help` and every
other command stay free of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from cds.audit.records import Decision, RuleOverrideRate

app = typer.Typer(help="Show what the CDS service decided and how clinicians responded.")


def _decisions_table(decisions: list[Decision]) -> Table:
    table = Table(title=f"Recent decisions ({len(decisions)})")
    for column in ("When (UTC)", "Service", "Hook", "Patient", "Ruleset", "Status", "ms", "Cards [feedback]"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        cards = "\n".join(
            f"{c.indicator}: {', '.join(c.rule_ids) or '-'}" + (f" [{c.outcome}]" if c.outcome else "")
            for c in d.cards
        )
        # Text(), not str: stored values must print literally, never be read as rich markup.
        table.add_row(
            *map(
                Text,
                (
                    d.at.strftime("%Y-%m-%d %H:%M:%S"),
                    d.service_id,
                    d.hook,
                    d.patient_ref or "-",
                    d.ruleset_version,
                    str(d.status_code),
                    f"{d.latency_ms:.0f}",
                    cards or "no cards",
                ),
            )
        )
    return table


def _rates_table(rates: list[RuleOverrideRate]) -> Table:
    table = Table(title="Override rate per rule (overridden / feedback received)")
    table.add_column("Rule")
    for column in ("Cards issued", "Feedback", "Overridden", "Rate"):
        table.add_column(column, justify="right")
    for r in rates:
        rate = "-" if r.rate is None else f"{r.rate:.0%}"
        table.add_row(
            Text(r.rule_id), str(r.cards_issued), str(r.feedback_count), str(r.overridden_count), rate
        )
    return table


@app.callback(invoke_without_command=True)
def audit(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL of the audit database [default: $CDS_DATABASE_URL, else a SQLite file "
            "in ~/.local/share/ketamine-cds]",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many recent decisions to show")] = 20,
) -> None:
    """Print recent decisions and override rates per rule."""
    # Here, so that `cds --help` and every other command do not pay for SQLAlchemy.
    from cds.audit.db import AuditError, default_database_url, sqlite_file
    from cds.audit.store import AuditStore

    console = Console()
    url = database_url or default_database_url()
    try:
        path = sqlite_file(url)
        if path is not None and not path.is_file():
            # Opening would create an empty database (and its folder): a mistyped path would then
            # look like "no decisions yet". The service creates the file on its first start.
            raise AuditError(f"no audit database at {path} (check the path or CDS_DATABASE_URL)")
        store = AuditStore(url, migrate=False)  # a reader: never changes the schema
        try:
            decisions = store.recent_decisions(limit)
            rates = store.override_rates()
        finally:
            store.close()
    except AuditError as exc:
        Console(stderr=True, soft_wrap=True).print(
            Text("error: ", style="red") + Text(str(exc)), highlight=False
        )
        raise typer.Exit(1) from None
    console.print(Text(f"Audit database: {store.url}"), highlight=False)
    if not decisions:
        console.print("No decisions recorded yet.")
        return
    console.print(_decisions_table(decisions))
    console.print(_rates_table(rates) if rates else "No cards issued yet.")


if __name__ == "__main__":
    app()
