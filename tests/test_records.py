"""Run records (bench/execute/records.py): written as runs finish, checked on load, and enough to
regenerate every committed output byte for byte (the committed quick and small outputs included).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.execute import records as rc
from bench.execute.records import RecordError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
FIGURES = (".png", ".pdf")
"""Figures are compared through the data they are drawn from (``*_figdata.csv``), not pixels."""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two finished tiny runs (2 epochs each) and their records, written and read back."""
    from tssd.config import from_dict
    from tssd.train import train

    base = tmp_path_factory.mktemp("runs")
    recs = {}
    for method in ("baseline", "ce_tt"):
        cfg = from_dict(
            {
                "method": {"name": method, "t_s": 1, "t_t": 2},
                "model": {"name": "micro_cnn", "width": 4},
                "optim": {"epochs": 2},
                "runtime": {"progress": False, "threads": 1},
            }
        )
        train(cfg, base / cfg.hash())
        recs[cfg.hash()] = rc.from_run_dir(cfg.hash(), base / cfg.hash())
    return base, recs


def test_records_round_trip_exactly(two_runs, tmp_path):
    _, recs = two_runs
    rc.write(tmp_path, recs)
    back = rc.load(tmp_path)
    assert sorted(back) == sorted(recs)
    for rid, rec in recs.items():
        assert back[rid].line() == rec.line()
        assert rc.texts({0: back[rid]}) == rc.texts({0: rec})
        assert len(back[rid].epochs) == 2 and back[rid].summary["epochs"] == 2
    # sorted by run id, one line per run: a new run adds lines and changes none
    lines = (tmp_path / rc.RUNS).read_text().splitlines()
    assert [json.loads(x)["run_id"] for x in lines] == sorted(recs)


def test_upsert_keeps_what_another_process_wrote(two_runs, tmp_path):
    _, recs = two_runs
    (a, ra), (b, rb) = sorted(recs.items())
    lock = tmp_path / "lock"
    assert rc.upsert(tmp_path / "r", [ra], lock)
    assert rc.upsert(tmp_path / "r", [rb], lock)
    assert sorted(rc.load(tmp_path / "r")) == [a, b]
    assert rc.upsert(tmp_path / "r", [ra], lock) == []  # unchanged: nothing rewritten


def _break(tmp_path: Path, recs, what: str) -> None:
    rc.write(tmp_path, recs)
    runs, epochs = tmp_path / rc.RUNS, tmp_path / rc.EPOCHS
    lines = runs.read_text().splitlines()
    first = json.loads(lines[0])
    if what == "duplicate":
        runs.write_text("\n".join([*lines, lines[0]]) + "\n")
    elif what == "edited-config":
        first["config"]["method"]["t_s"] = 3
        runs.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    elif what == "missing-key":
        del first["summary"]
        runs.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    elif what == "not-json":
        runs.write_text("\n".join([lines[0][:-3], *lines[1:]]) + "\n")
    elif what == "missing-metric":
        del first["summary"]["test_acc"]
        runs.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    elif what == "missing-column":
        text = epochs.read_text().splitlines()
        cols = text[0].split(",")
        i = cols.index("train_acc")
        rows = [",".join(c for j, c in enumerate(r.split(",")) if j != i) for r in text]
        epochs.write_text("\n".join(rows) + "\n")
    elif what == "lost-epoch":
        text = epochs.read_text().splitlines()
        epochs.write_text("\n".join(text[:-1]) + "\n")
    elif what == "orphan-epoch":
        text = epochs.read_text().splitlines()
        epochs.write_text("\n".join([*text, "0123456789ab" + text[1][12:]]) + "\n")


@pytest.mark.parametrize(
    "what, message",
    [
        ("duplicate", r"runs.jsonl:3: run id \w+ appears twice \(first on line 1\)"),
        ("edited-config", r"runs.jsonl:1: key 'config': hashes to \w+, not to its run id"),
        ("missing-key", r"runs.jsonl:1: key 'summary' missing"),
        ("not-json", r"runs.jsonl:1: not JSON"),
        ("missing-metric", r"runs.jsonl:1: key 'summary.test_acc' missing"),
        ("missing-column", r"epochs.csv: column 'train_acc' missing"),
        ("lost-epoch", r"runs.jsonl:2: run \w+ finished 2 epochs but .*epochs.csv holds 1"),
        ("orphan-epoch", r"epochs.csv:6: run id '0123456789ab' has no record"),
    ],
)
def test_a_record_that_cannot_be_trusted_is_one_line_naming_file_and_row(
    two_runs, tmp_path, what, message
):
    _, recs = two_runs
    _break(tmp_path, recs, what)
    with pytest.raises(RecordError, match=message) as err:
        rc.load(tmp_path)
    assert "\n" not in str(err.value)


def test_a_run_without_a_record_is_not_run_never_filled_in(two_runs):
    """The aggregate reads records only: a finished run directory without a record is not run,
    and a recorded run is finished whether or not its directory exists."""
    from bench.analyse.aggregate import read_run
    from bench.plan.expand import PlannedRun

    base, recs = two_runs
    a, b = sorted(recs)

    class Plan:  # the one attribute read_run needs
        runs = {r: PlannedRun(r, {}, "run", 0, "cell") for r in (a, b)}
        runs_dir = base

    only_a = {a: recs[a]}
    assert read_run(Plan, a, only_a).status == "finished"
    missing = read_run(Plan, b, only_a)
    assert (missing.status, missing.reason, missing.metrics) == ("not-run", "not run", {})
    assert read_run(Plan, b).status == "finished"  # the run directory itself is finished


def _committed_outputs(profile: str) -> list[Path]:
    out = ROOT / "results" / profile
    return sorted(
        p for p in out.rglob("*") if p.is_file() and rc.RECORDS not in p.relative_to(out).parts
    )


def _block(text: str, start: str, end: str) -> str:
    m = re.search(re.escape(start) + r"\n(.*?)" + re.escape(end), text, flags=re.S)
    assert m, f"README.md: markers {start!r} .. {end!r} missing"
    return m.group(1)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """Every committed profile's outputs regenerated from its committed records alone."""
    from bench.pipeline import regenerate
    from bench.plan.schema import load_profile

    tmp = tmp_path_factory.mktemp("regenerated")
    for profile in COMMITTED:
        records = ROOT / "results" / profile / rc.RECORDS / rc.RUNS
        assert records.is_file(), f"{records}: the committed run records are missing"
        regenerate(load_profile(profile), ROOT / "results", tmp / profile)
    return tmp


COMMITTED = ("quick", "small")
"""The profiles whose records and outputs are committed."""


@pytest.mark.parametrize("profile", COMMITTED)
def test_committed_outputs_regenerate_byte_identical_from_the_records(regenerated, profile):
    tmp = regenerated
    committed = _committed_outputs(profile)
    made = sorted(p for p in (tmp / profile).rglob("*") if p.is_file())
    rel_c = {p.relative_to(ROOT / "results" / profile) for p in committed}
    rel_m = {p.relative_to(tmp / profile) for p in made}
    assert rel_m - rel_c == set(), "regenerated but not committed (run `nox -s report`)"
    assert rel_c - rel_m == set(), "committed but no longer made from the records (stale)"
    differ = [
        str(r)
        for r in sorted(rel_m)
        if r.suffix not in FIGURES
        and (ROOT / "results" / profile / r).read_bytes() != (tmp / profile / r).read_bytes()
    ]
    assert differ == [], f"differ from their regeneration (run `nox -s report`): {differ}"


def test_the_readme_claims_and_findings_regenerate_from_the_records(regenerated):
    from bench.present.report import (
        FINDINGS_END,
        FINDINGS_START,
        README_END,
        README_START,
        claims_table,
        findings_text,
    )

    tmp = regenerated
    readme = (ROOT / "README.md").read_text()
    assert _block(readme, README_START, README_END) == claims_table(list(COMMITTED), tmp)
    assert _block(readme, FINDINGS_START, FINDINGS_END) == findings_text(list(COMMITTED), tmp)


INTERVAL = re.compile(r"[+-]\d+\.\d\d\s+\[[+-]\d+\.\d\d,\s+[+-]\d+\.\d\d\]")
"""A difference with its 95 % interval as the reports write it: ``+0.49 [+0.24, +0.74]``."""


def test_every_interval_the_readme_prose_quotes_is_one_a_report_states(regenerated):
    """The README's hand-written paragraphs quote differences with their intervals. Each must be
    one that a report regenerated from the records states, so records that move a number fail
    here until the prose says what they say."""
    from bench.present.report import FINDINGS_END, FINDINGS_START, README_END, README_START

    prose = (ROOT / "README.md").read_text()
    for start, end in ((README_START, README_END), (FINDINGS_START, FINDINGS_END)):
        prose = prose.replace(_block(prose, start, end), "")  # the generated blocks
    reports = " ".join(
        " ".join((regenerated / p / "REPORT.md").read_text().split()) for p in COMMITTED
    )
    quoted = [" ".join(m.group(0).split()) for m in INTERVAL.finditer(prose)]
    assert len(quoted) >= 4, f"README.md: only {quoted} found; has the prose or the format moved?"
    stale = [q for q in quoted if q not in reports]
    assert stale == [], f"README.md: its prose quotes intervals no report states: {stale}"


def test_all_committed_records_together_stay_under_10_mb():
    """The issue's budget for run records in git: every profile's records together."""
    total = sum(
        p.stat().st_size
        for p in (ROOT / "results").glob(f"*/{rc.RECORDS}/*")
        if p.name in (rc.RUNS, rc.EPOCHS)
    )
    assert (ROOT / "results" / "quick" / rc.RECORDS / rc.RUNS).is_file()
    assert total <= 10 * 2**20, f"run records hold {total / 2**20:.1f} MB, over the 10 MB budget"


def test_records_no_plan_claims_are_listed(two_runs, tmp_path):
    """A record left by a plan that changed shows in `bench records`, never silently in a table."""
    from bench.pipeline import _recorded, records_status, unclaimed
    from bench.plan.schema import load_profile
    from bench.present.report import write_report

    _, recs = two_runs
    rc.write(tmp_path / "quick" / rc.RECORDS, recs)
    lines = records_status(load_profile("quick"), tmp_path)
    assert lines[0].startswith("2 run records in")
    assert "2 records no plan of profile quick claims" in lines
    assert all(any(ln.strip().startswith(rid) for ln in lines) for rid in recs)
    table2 = next(ln for ln in lines if ln.strip().startswith("table2"))
    assert "18 runs:    0 finished, 0 failed,   18 not run" in table2
    # ... and REPORT.md counts them, so the report says what its tables leave out
    assert unclaimed(*_recorded(load_profile("quick"), tmp_path)) == sorted(recs)
    report = write_report("quick", tmp_path, unclaimed=2).read_text()
    assert "- records no plan claims (a changed plan's leftovers, in no table): 2; " in report
    assert "`python -m bench records --profile quick` lists them" in report
    assert "in no table): none\n" in write_report("quick", tmp_path).read_text()


def test_a_run_directory_found_on_disk_never_overwrites_a_committed_record(two_runs, tmp_path):
    """Only a run that finished in this invocation replaces its record (--force); one merely
    found finished in the local cache keeps the committed record, which may be another
    machine's."""
    _, recs = two_runs
    rid, rec = sorted(recs.items())[0]
    lock = tmp_path / "lock"
    rc.upsert(tmp_path, [rec], lock)
    other = rc.Record(rid, rec.status, rec.config, {**rec.summary, "host": "other"}, "", rec.epochs)
    assert rc.upsert(tmp_path, [other], lock, replace=False) == []
    assert rc.load(tmp_path)[rid].summary.get("host") == rec.summary.get("host") != "other"
    assert rc.upsert(tmp_path, [other], lock, replace=True)
    assert rc.load(tmp_path)[rid].summary["host"] == "other"


def test_a_remeasured_run_updates_its_record(two_runs, tmp_path):
    """`python -m tssd metrics` adds NeuroBench values to a finished run's summary after the
    fact: that, and only that, may update a committed record from a run directory."""
    _, recs = two_runs
    rid, rec = sorted(recs.items())[0]
    lock = tmp_path / "lock"
    rc.upsert(tmp_path, [rec], lock)
    measured = rc.Record(
        rid, rec.status, rec.config, {**rec.summary, "neurobench": {"v": 1}}, "", rec.epochs
    )
    assert rc.upsert(tmp_path, [measured], lock, replace=False)
    assert rc.load(tmp_path)[rid].summary["neurobench"] == {"v": 1}
    both = rc.Record(rid, rec.status, rec.config, {**measured.summary, "wall_s": -1.0}, "", [])
    assert rc.upsert(tmp_path, [both], lock, replace=False) == []


def test_progress_says_recorded_for_runs_done_by_their_records():
    """A run done by its committed record is "recorded", a run directory reused "cached": the
    two are different promises (the record may come from another machine)."""
    import io

    from bench.execute.run import Outcome, Progress
    from bench.plan.expand import PlannedRun
    from tssd.rundir import RunState

    ids = ["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"]
    runs = [PlannedRun(r, {}, f"run-{r[0]}", 0, "cell") for r in ids]
    states = {ids[0]: RunState("finished"), ids[1]: RunState("finished"), ids[2]: RunState("new")}
    out = io.StringIO()
    progress = Progress("t", runs, states, 2, Path("."), stream=out, recorded={ids[0]})
    progress.begin()
    assert "3 runs: 1 recorded, 1 cached, 1 to run" in out.getvalue()
    for r in runs[:2]:
        progress.finished(r, Outcome(r.run_id, "finished", cached=True))
    progress.finished(runs[2], Outcome(ids[2], "finished"))
    assert "3/3 runs (1 recorded, 1 cached)" in out.getvalue()


def test_records_timing_judges_the_cost_model_on_steady_runs_only(tmp_path):
    """`bench records --timing`: each recorded run's estimate against its wall time; a run with
    half its epochs paused (10x slower) is listed but does not count in the verdict line."""
    from bench.pipeline import STEADY_SPREAD, records_status, records_timing
    from bench.plan.schema import load_profile

    recs = rc.load(ROOT / "results" / "quick" / rc.RECORDS)
    rid, rec = sorted((i, r) for i, r in recs.items() if r.status == "finished")[0]
    for e in rec.epochs:  # a steady run: every training epoch as long as the first
        e["epoch_time_s"] = rec.epochs[0]["epoch_time_s"]
    rc.write(tmp_path / "quick" / rc.RECORDS, recs)
    before = records_timing(load_profile("quick"), tmp_path)
    name = rec.summary["name"]
    assert next(ln for ln in before if ln.strip().startswith(name + " ")).endswith("yes")
    for e in rec.epochs[: len(rec.epochs) // 2 + 1]:  # paused for over half the run
        e["epoch_time_s"] *= 10 * STEADY_SPREAD
    rc.write(tmp_path / "quick" / rc.RECORDS, recs)
    after = records_timing(load_profile("quick"), tmp_path)
    assert "no (" in next(ln for ln in after if ln.strip().startswith(name + " "))
    n_before, n_after = (int(x[-1].split(";")[0].split()[-1]) for x in (before, after))
    assert n_after == n_before - 1
    for e in rec.epochs:  # steady again, then one epoch that held a pause
        e["epoch_time_s"] = rec.epochs[0]["epoch_time_s"]
    rec.epochs[1]["epoch_time_s"] *= 100
    rc.write(tmp_path / "quick" / rc.RECORDS, recs)
    paused = records_timing(load_profile("quick"), tmp_path)
    assert next(ln for ln in paused if ln.strip().startswith(name + " ")).endswith("no (paused)")
    # a line per finished run that a plan claims: a record left by a plan that changed (Table 8's
    # old narrow heads) is listed by `bench records` (records_status), not judged here
    status = records_status(load_profile("quick"), tmp_path)
    first = next(i for i, ln in enumerate(status) if "records no plan" in ln) + 1
    orphans = {ln.split()[0] for ln in status[first:]}
    finished = sum(r.status == "finished" and i not in orphans for i, r in recs.items())
    assert len(before) == finished + 3  # two header lines, a line per finished run, the verdict


def test_records_timing_since_keeps_the_runs_started_in_a_window():
    from bench.pipeline import records_timing
    from bench.plan.schema import load_profile

    quick = load_profile("quick")
    every = records_timing(quick, ROOT / "results")
    none = records_timing(quick, ROOT / "results", since="9999")
    assert "started since 9999" in none[0] and none[-1].startswith("steady runs: none")
    assert len(none) == 3 < len(every)


def test_records_timing_estimate_judges_the_calibrated_estimate(monkeypatch):
    """`bench records --timing --estimate`: the estimate column is --dry-run --estimate's
    (calibrated on this machine; stubbed here), not the profile's cost model."""
    from bench.execute import run as run_mod
    from bench.pipeline import records_timing
    from bench.plan.schema import load_profile

    monkeypatch.setattr(run_mod, "calibrated_seconds", lambda *_: 3600.0)
    lines = records_timing(load_profile("quick"), ROOT / "results", estimate=True)
    assert lines[0].startswith("calibrated estimate (--estimate) of profile quick")
    rows = lines[2:-1]
    assert rows and all(ln.split()[1] == "1h00m" for ln in rows)
