"""Impact analysis: the committee's question (lower trd.min_trial_weeks from 6 to 4) answered on
the generated population, alert burden as the service maps cards, knowledge diffs, git bases."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cds.errors import InputError
from cds.impact.base import from_git
from cds.impact.diff import knowledge_changes
from cds.impact.model import ImpactReport
from cds.impact.render import eligibility_changes, render_html, text, write_csv
from cds.impact.run import analyse, outcome
from cds.knowledge import Knowledge, default_knowledge
from cds.pipeline import evaluate
from cds.population import DEFAULT_AS_OF, generate, write_ndjson
from cds.synthetic import trd_patient

N = 200
SEED = 2


def _copy_rules(tmp: Path, edit: Callable[[Path], None]) -> Path:
    rules = tmp / "rules"
    shutil.copytree(default_knowledge().rules_dir, rules)
    edit(rules)
    return rules


def _set(rules: Path, old: str, new: str, file: str = "settings.yaml") -> None:
    path = rules / file
    text_ = path.read_text()
    assert old in text_
    path.write_text(text_.replace(old, new, 1))


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("population")
    write_ndjson(folder, N, SEED)
    return folder


@pytest.fixture(scope="module")
def four_weeks(tmp_path_factory: pytest.TempPathFactory) -> Knowledge:
    tmp = tmp_path_factory.mktemp("four-weeks")
    rules = _copy_rules(tmp, lambda r: _set(r, "min_trial_weeks: 6", "min_trial_weeks: 4"))
    return Knowledge.load(rules, default_knowledge().fhir_dir)


@pytest.fixture(scope="module")
def report(population: Path, four_weeks: Knowledge) -> ImpactReport:
    return analyse([population], default_knowledge(), four_weeks, as_of=DEFAULT_AS_OF, jobs=1)


def test_four_week_trials_make_exactly_the_4_to_6_week_patients_eligible(report: ImpactReport) -> None:
    # The committee's question: who becomes eligible if 4 weeks is an adequate trial?
    short = {r[0]["id"] for a, r in generate(N, SEED) if a.name == "trial-4-to-6-weeks"}
    assert short  # the population holds such patients
    became = eligibility_changes(report)
    assert set(became) == {"indication.trd.met"}
    assert {p.patient for p in became["indication.trd.met"]} == short
    assert report.no_longer_eligible == []
    assert report.indication_after["eligible"] - report.indication_before["eligible"] == len(short)
    for p in became["indication.trd.met"]:
        assert p.stopped_firing == ["indication.trd.not-met"]
        assert (p.before.esketamine, p.after.esketamine) == ("not-indicated", "appropriate")


def test_rule_counts_and_knowledge_diff_name_what_changed(report: ImpactReport) -> None:
    by_rule = {r.rule: r for r in report.rules}
    assert set(by_rule) == {"indication.trd.met", "indication.trd.not-met"}
    k = len(report.became_eligible)
    assert (by_rule["indication.trd.met"].newly_fire, by_rule["indication.trd.met"].stop_firing) == (k, 0)
    assert (by_rule["indication.trd.not-met"].newly_fire, by_rule["indication.trd.not-met"].stop_firing) == (
        0,
        k,
    )
    assert [(s.setting, s.before, s.after) for s in report.knowledge.settings] == [
        ("trd.min_trial_weeks", "6", "4")
    ]
    assert report.knowledge.rules == [] and report.knowledge.files == []
    summary = "\n".join(text(report))
    assert "setting trd.min_trial_weeks: 6 → 4" in summary
    assert f"became eligible through indication.trd.met: {k} patients" in summary
    assert "ruleset_version 2026" in summary and "unchanged" in summary


def test_alert_burden_is_cards_per_thousand_and_unchanged_by_an_indication_setting(
    report: ImpactReport,
) -> None:
    # Eligibility is not an alert: no card appears or disappears, and the report says so.
    assert report.burden_before == report.burden_after
    # Critical cards: one per absolute concept per patient (contraindicated and 17-year-old patients).
    critical = sum(
        len(
            {
                f.concept
                for f in evaluate(r, as_of=DEFAULT_AS_OF).assessment.findings
                if f.severity == "absolute"
            }
        )
        for _, r in generate(N, SEED)
    )
    assert critical > 0
    assert report.burden_before.critical == pytest.approx(1000 * critical / N, abs=0.05)


def test_a_lower_bp_threshold_raises_the_warning_burden(population: Path, tmp_path: Path) -> None:
    rules = _copy_rules(
        tmp_path,
        lambda r: _set(
            r, "systolic: {gt: 140}", "systolic: {gt: 130}", "precautions/elevated-blood-pressure.yaml"
        ),
    )
    changed = Knowledge.load(rules, default_knowledge().fhir_dir)
    r = analyse([population], default_knowledge(), changed, as_of=DEFAULT_AS_OF)
    assert r.burden_after.warning > r.burden_before.warning
    assert r.burden_after.critical == r.burden_before.critical
    by_rule = {x.rule: x for x in r.rules}
    assert by_rule["precaution.elevated-blood-pressure"].newly_fire > 0
    assert by_rule["precaution.elevated-blood-pressure"].stop_firing == 0
    (change,) = r.knowledge.rules
    assert change.rule == "precaution.elevated-blood-pressure" and change.unbumped
    assert "VERSION NOT BUMPED" in "\n".join(text(r))


def test_cards_follow_the_service_mapping() -> None:
    k = default_knowledge()
    p = trd_patient("no-bp")
    p.resources = [r for r in p.resources if not r.get("component")]  # the BP panel is gone
    p.condition("I71.21", onset="2020-01-01")  # an aneurysm: absolute
    ev = evaluate([e["resource"] for e in p.bundle()["entry"]], k, as_of=date(2025, 6, 2))
    o = outcome(ev.assessment, (f.rule_id for f in ev.firings))
    assert o.cards["aneurysmal-vascular-disease"] == "critical"
    assert o.cards["blood-pressure"] == "warning"  # a blocking data gap is raised to warning
    assert len(o.cards) == len({f.concept for f in ev.assessment.findings})  # one card per concept


def test_csv_and_html(report: ImpactReport, tmp_path: Path) -> None:
    with (tmp_path / "out.csv").open("w") as fh:
        write_csv(report, fh)
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert len(lines) == 1 + len(report.changed_patients)
    assert ",not-eligible,eligible,not-indicated,appropriate," in lines[1]
    page = render_html(report)
    assert "<svg" in page and "Alert burden" in page and "indication.trd.met" in page
    # self-contained: no script, nothing fetched (the only URL is the SVG namespace)
    assert "<script" not in page and "src=" not in page and "href=" not in page and "@import" not in page


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
    )


def test_base_from_a_git_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    shutil.copytree(default_knowledge().rules_dir, repo / "rules")
    _git(repo, "add", "rules")
    _git(repo, "commit", "-qm", "six weeks")
    _set(repo / "rules", "min_trial_weeks: 6", "min_trial_weeks: 5")
    fhir = default_knowledge().fhir_dir
    with from_git("HEAD", repo, fhir) as folders:
        assert folders.fhir == fhir  # no fhir/ at that revision: the working tree's
        base = Knowledge.load(folders.rules, folders.fhir)
    changed = Knowledge.load(repo / "rules", fhir)
    diff = knowledge_changes(base, changed)
    assert [(s.setting, s.before, s.after) for s in diff.settings] == [("trd.min_trial_weeks", "6", "5")]
    with (
        pytest.raises(InputError, match="neither a folder nor a git revision"),
        from_git("no-such-rev", repo, fhir),
    ):
        pass


def test_cli_runs_and_refuses_a_bad_base_without_a_traceback(population: Path, tmp_path: Path) -> None:
    import typer

    from cds.impact.cli import impact_command

    app = typer.Typer()
    app.command()(impact_command)
    base = _copy_rules(tmp_path, lambda r: _set(r, "min_trial_weeks: 6", "min_trial_weeks: 8")).parent
    html_out = tmp_path / "r.html"
    ok = CliRunner().invoke(
        app, ["--population", str(population), "--base", str(base), "--html", str(html_out)]
    )
    assert ok.exit_code == 0, ok.output
    assert "setting trd.min_trial_weeks: 8 → 6" in ok.output  # base 8 weeks, working tree 6
    assert html_out.read_text().startswith("<!doctype html>")
    bad = CliRunner().invoke(app, ["--population", str(population), "--base", "no-such-rev-or-folder"])
    assert bad.exit_code == 2
    assert "no-such-rev-or-folder" in bad.output and "Traceback" not in bad.output


def test_unreadable_lines_are_reported_never_silently_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "pop"
    write_ndjson(folder, 20, seed=9)
    with (folder / "AllergyIntolerance.ndjson").open("a") as fh:
        fh.write('{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/p00001"},\n')
    r = analyse([folder], default_knowledge(), default_knowledge(), as_of=DEFAULT_AS_OF)
    assert r.patients == 20
    # The broken line names Patient/p00001: that record is not assessed (an error on both sides),
    # never assessed without the line.
    assert r.errors == 1 and not r.unattributed
    other = tmp_path / "pop2"
    write_ndjson(other, 20, seed=9)
    with (other / "AllergyIntolerance.ndjson").open("a") as fh:
        fh.write('{"resourceType":"AllergyIntolerance",\n')  # names no patient
    r = analyse([other], default_knowledge(), default_knowledge(), as_of=DEFAULT_AS_OF)
    assert len(r.unattributed) == 1 and "AllergyIntolerance.ndjson" in r.unattributed[0]
    assert any(line.startswith("WARNING: 1 input lines belong to no patient") for line in text(r))
    assert "belong to no patient" in render_html(r)
