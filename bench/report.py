"""The reproduction report: every table, claim and figure of one profile on one page.

``python -m bench report --profile P`` writes ``results/<P>/REPORT.md`` from the CSVs and the
rendered files of that profile (it runs nothing): provenance (commits, machines, torch, seeds,
wall time), every claim's verdict with its per-group differences and 95 % intervals, each
experiment's table or figure, and the cells that did not run. ``python -m bench claims
--profiles quick small`` prints the claims of several profiles side by side (the README's
table), and ``--readme`` writes that table between the README's claims markers.
"""

from __future__ import annotations

import datetime
import math
import platform
import re
from collections import Counter
from pathlib import Path

from bench.aggregate import num, read_csv
from bench.schema import experiment_ids, experiment_path, load_experiment, load_profile, rel

README_START = "<!-- claims:start (python -m bench claims --readme) -->"
README_END = "<!-- claims:end -->"


def _fmt_s(s: float) -> str:
    h, rem = divmod(int(round(s)), 3600)
    return f"{h}h{rem // 60:02d}m" if h else f"{rem // 60}m{rem % 60:02d}s"


def group_detail(row: dict[str, str]) -> str:
    """``+1.23 [+0.40, +2.06]`` for one comparison (``n/a`` without a difference)."""
    d, lo, hi = num(row.get("diff")), num(row.get("ci_lo")), num(row.get("ci_hi"))
    if math.isnan(d):
        return row.get("note") or "n/a"
    ci = "" if math.isnan(lo) else f" [{lo:+.2f}, {hi:+.2f}]"
    return f"{d:+.2f}{ci}"


def claims_of(results_dir: Path, eid: str) -> list[dict[str, str]]:
    """The claims CSV rows of one experiment (empty when it has not been aggregated)."""
    path = results_dir / f"{eid}_claims.csv"
    return read_csv(path) if path.is_file() else []


def _provenance(results_dir: Path, eids: list[str]) -> tuple[list[str], dict[str, float]]:
    commits: Counter = Counter()
    devices: Counter = Counter()
    torches: Counter = Counter()
    seeds: set[str] = set()
    wall: dict[str, float] = {}
    seen: set[str] = set()
    for eid in eids:
        path = results_dir / f"{eid}_runs.csv"
        if not path.is_file():
            continue
        total = 0.0
        for r in read_csv(path):
            if r["status"] != "finished":
                continue
            w = num(r.get("wall_s"))
            total += 0.0 if math.isnan(w) else w
            if r["run_id"] in seen:
                continue
            seen.add(r["run_id"])
            dirty = " (dirty tree)" if r.get("git_dirty") == "True" else ""
            commits[(r.get("git_commit") or "?")[:12] + dirty] += 1
            devices[f"{r.get('device', '?')} {r.get('device_name', '')}".strip()] += 1
            torches[r.get("torch_version") or "?"] += 1
            seeds.add(r["seed"])
        wall[eid] = total
    lines = [
        f"- runs: {len(seen)} distinct finished runs; seeds {', '.join(sorted(seeds, key=int))}"
        if seen
        else "- runs: none finished yet",
        "- trained at commit(s): " + ", ".join(f"{c} ({n} runs)" for c, n in commits.most_common()),
        "- on: " + ", ".join(f"{d} ({n})" for d, n in devices.most_common()),
        "- torch: " + ", ".join(f"{t} ({n})" for t, n in torches.most_common()),
    ]
    return lines, wall


def write_report(profile_id: str, results: Path) -> Path:
    """Write ``<results>/<profile>/REPORT.md``; return its path."""
    from tssd.runtime import atomic_write_text, git_state

    profile = load_profile(profile_id)
    out_dir = results / profile.id
    shipped = experiment_ids()
    # experiments run from a YAML path of their own are reported too, after the shipped ones
    extra = sorted(
        p.name[: -len("_claims.csv")]
        for p in out_dir.glob("*_claims.csv")
        if p.name[: -len("_claims.csv")] not in shipped
    )
    eids = shipped + extra
    git = git_state()
    prov, wall = _provenance(out_dir, eids)
    lines = [
        f"# Reproduction report: profile `{profile.id}`",
        "",
        profile.description,
        "",
        f"Written {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')} by "
        f"`python -m bench report --profile {profile.id}` at commit "
        f"{git['git_commit'][:12]}{' (dirty tree)' if git['git_dirty'] else ''} on "
        f"{platform.node()} ({platform.machine()}). It re-reads the CSVs under `{rel(out_dir)}`; "
        "every number below was measured by the runs they list.",
        "",
        "## Provenance",
        "",
        *prov,
        "- summed run wall time per experiment (a run shared by several counts in each): "
        + (", ".join(f"{e} {_fmt_s(w)}" for e, w in wall.items()) or "none"),
        "",
        "## Claims",
        "",
        "| experiment | claim | source | verdict | per group: difference [95 % interval] |",
        "|---|---|---|---|---|",
    ]
    missing_exps = []
    for eid in eids:
        rows = claims_of(out_dir, eid)
        if not rows:
            missing_exps.append(eid)
            continue
        for c in rows:
            if c["group"] != "all":
                continue
            groups = [g for g in rows if g["claim"] == c["claim"] and g["group"] != "all"]
            detail = "; ".join(f"{g['group']}: {g['outcome']} {group_detail(g)}" for g in groups)
            lines.append(
                f"| {eid} | {c['claim']}: {c['text']} | {c['source']} | **{c['verdict']}** | "
                f"{detail or c['note']} |"
            )
    lines += ["", "## Tables and figures", ""]
    not_run: list[str] = []
    for eid in eids:
        title = load_experiment(experiment_path(eid)).title if eid in shipped else eid
        lines.append(f"### {eid}: {title}")
        lines.append("")
        agg = out_dir / f"{eid}.csv"
        if not agg.is_file():
            lines += [f"Not run yet: `python -m bench run {eid} --profile {profile.id}`.", ""]
            continue
        for r in read_csv(agg):
            if r["metric"] == "test_acc" and r["status"] in ("not-run", "failed", "partial"):
                not_run.append(f"{eid}: {r['cell']}: {r['status']} ({r['reason']})")
        md = out_dir / f"{eid}.md"
        if md.is_file():
            body = md.read_text().splitlines()
            lines += [ln for ln in body if not ln.startswith("### ")]
        for pic in (f"{eid}.png", f"{eid}_forest.png"):
            if (out_dir / pic).is_file():
                lines += [f"![{eid}]({pic})", ""]
        forest = out_dir / f"{eid}_forest.md"
        if forest.is_file():
            lines += forest.read_text().splitlines()[2:] + [""]
        lines.append("")
    lines += ["## Cells that did not run", ""]
    lines += [f"- {x}" for x in not_run] or ["- none"]
    if missing_exps:
        lines += [
            "",
            "Experiments not aggregated under this profile: " + ", ".join(missing_exps) + ".",
        ]
    path = out_dir / "REPORT.md"
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def claims_table(profiles: list[str], results: Path) -> str:
    """Every claim of every experiment, one column per profile (Markdown)."""
    head = "| experiment | claim | " + " | ".join(profiles) + " |"
    lines = [head, "|---|---|" + "---|" * len(profiles)]
    for eid in experiment_ids():
        exp = load_experiment(experiment_path(eid))
        by_profile = {p: claims_of(results / p, eid) for p in profiles}
        for claim in exp.claims:
            cells = []
            for p in profiles:
                rows = [r for r in by_profile[p] if r["claim"] == claim.id]
                top = next((r for r in rows if r["group"] == "all"), None)
                if top is None:
                    cells.append("not run")
                    continue
                groups = [r for r in rows if r["group"] != "all"]
                ran = [g for g in groups if g.get("outcome") != "missing"]
                detail = "; ".join(f"{_short_group(g['group'])} {group_detail(g)}" for g in ran)
                if len(ran) < len(groups):  # one count, not one "no finished run" per group
                    detail += f"{'; ' if ran else ''}{len(groups) - len(ran)} not run"
                cells.append(f"{top['verdict']}" + (f" ({detail})" if detail else ""))
            lines.append(f"| {eid} | {claim.text} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _short_group(group: str) -> str:
    return ",".join(part.split("=", 1)[-1] for part in group.split(","))


def update_readme(readme: Path, table: str) -> None:
    """Replace the text between the claims markers of ``readme`` with ``table``."""
    from tssd.runtime import atomic_write_text

    text = readme.read_text()
    pattern = re.escape(README_START) + r".*?" + re.escape(README_END)
    if not re.search(pattern, text, flags=re.S):
        raise FileNotFoundError(
            f"{readme}: no claims markers; add the lines {README_START!r} and {README_END!r}"
        )
    new = f"{README_START}\n{table}{README_END}"
    atomic_write_text(readme, re.sub(pattern, lambda _: new, text, flags=re.S))
