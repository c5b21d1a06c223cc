"""Every rendered .tex compiles under a real pdflatex.

The tables come from the harness's own render step (:func:`bench.pipeline.render`, the forest of
the reconstruction study included, and ``macros.tex``) over aggregate, runs and claims CSVs
fabricated for every table experiment of every profile, without training: ``quick`` with
reference values, deltas and a failing verdict, ``small`` (``compare: none``, the profile whose
caption once commented itself out with an unescaped ``%``), ``paper`` with every cell not run (the
empty tables a fresh clone renders). Each profile has a failed and a partial cell in every table.

Each profile's tables go into one document (pdflatex costs about 0.3 s per document, so one per
table would be slow) whose preamble is the documented :data:`bench.present.table.PREAMBLE` and
nothing else. pdflatex must exit 0 under ``-halt-on-error`` and its log must hold no error. Without
pdflatex (Debian: ``apt-get install texlive-latex-recommended``) the tests skip and say so.
"""

from __future__ import annotations

import math
import shutil
import string
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench.analyse import frames
from bench.analyse.frames import AGGREGATE, CLAIMS, RUNS
from bench.pipeline import experiments, render, write_macros
from bench.plan.expand import expand, fmt_value
from bench.plan.schema import load_layout, load_profile
from bench.present.table import LATEX_SPECIAL, PREAMBLE, latex_escape

pytestmark = pytest.mark.unit

PROFILES = ("quick", "small", "paper")
LOG_ERRORS = ("Undefined control sequence", "Missing", "Runaway argument", "Emergency stop")
"""Log lines of errors pdflatex may recover from in nonstop mode (and the one it stops on)."""
PLAUSIBLE = {
    "test_acc": 80.0,
    "val_acc": 81.0,
    "epoch_time_s": 12.0,
    "train_total_s": 600.0,
    "peak_mem_mb": 900.0,
    "train_params": 2.5e5,
    "params": 2.4e5,
    "macs_per_sample": 3.1e7,
    "nb_params": 2.4e5,
    "nb_dense": 2.9e7,
    "nb_effective_acs": 4.0e6,
    "nb_effective_macs": 1.1e6,
    "nb_effective_synops": 5.1e6,
    "nb_activation_sparsity": 0.82,
    "energy_pj": 8.7e6,
}
"""A value of each metric the shipped tables show, to fabricate results around."""


def pdflatex() -> str:
    """The pdflatex executable, or skip the test with how to get it."""
    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.skip(
            "pdflatex not found: the rendered tables' LaTeX is not compiled "
            "(Debian: apt-get install texlive-latex-recommended)"
        )
    if subprocess.run(["kpsewhich", "booktabs.sty"], capture_output=True).returncode != 0:
        pytest.skip("booktabs.sty not found (Debian: apt-get install texlive-latex-recommended)")
    return exe


def compile_latex(body: str, where: Path, preamble: str = PREAMBLE) -> str:
    """Compile ``body`` in a minimal article; fail with the log's errors; return the log."""
    exe = pdflatex()
    doc = where / "doc.tex"
    doc.write_text(
        "\\documentclass{article}\n" + preamble + "\n\\begin{document}\n" + body + "\n"
        "\\end{document}\n"
    )
    res = subprocess.run(
        [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", doc.name],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (where / "doc.log").read_text(errors="replace")
    errors = [
        ln for ln in log.splitlines() if ln.startswith("!") or any(e in ln for e in LOG_ERRORS)
    ]
    assert res.returncode == 0 and not errors, (
        f"pdflatex exit {res.returncode}: {errors}\n{log[-3000:]}"
    )
    assert (where / "doc.pdf").stat().st_size > 1000
    return log


def fabricate(profile_id: str, out_dir: Path, runs_dir: Path) -> list[str]:
    """Aggregate, runs and claims CSVs of every table experiment under ``profile_id``, written
    as :mod:`bench.analyse.aggregate` writes them, then rendered; returns the experiment ids."""
    profile = load_profile(profile_id)
    rng = np.random.default_rng(17)
    done = []
    for exp in experiments(["all"]):
        layout = load_layout(exp.layout)
        if layout.kind != "table":
            continue
        plan = expand(exp, profile, runs_dir=runs_dir)
        axes = exp.axis_names()
        metrics = [layout.metric] + [c.metric for c in layout.columns if c.metric]
        agg_rows, run_rows, claim_rows = [], [], []
        n_cells = len(plan.cells)
        for i, cell in enumerate(plan.cells):
            seeds = list(cell.seeds)
            if profile_id == "paper":
                status, finished = "not-run", []
            elif i == n_cells - 1:
                status, finished = "failed", seeds[:-1]
            elif i == n_cells - 2:
                status, finished = "partial", seeds[:-1]
            else:
                status, finished = "ok", seeds
            effect = 1.0 if cell.key.get("method") != "baseline" else 0.0
            base = {
                "experiment": exp.id,
                "profile": profile_id,
                "cell": cell.id,
                **{a: fmt_value(cell.key[a]) if a in cell.key else "" for a in axes},
                "n_planned": len(seeds),
            }
            per_seed = {s: {} for s in seeds}
            for metric in dict.fromkeys(metrics):
                center = PLAUSIBLE[metric] * (1.0 + 0.01 * effect)
                values = {s: center + rng.normal(0.0, 0.4) for s in finished}
                for s, v in values.items():
                    per_seed[s][metric] = v
                n = 0 if status == "failed" else len(values)
                mean = float(np.mean(list(values.values()))) if n else math.nan
                std = float(np.std(list(values.values()), ddof=1)) if n > 1 else math.nan
                ref = mean + 0.3 if profile_id == "quick" and n and i % 2 == 0 else math.nan
                verdict = {"failed": "fail", "not-run": "not-run"}.get(status, "no-reference")
                if not math.isnan(ref):
                    verdict = "fail" if i == 0 else "pass"
                agg_rows.append(
                    {
                        **base,
                        "metric": metric,
                        "n": n,
                        "mean": mean,
                        "std": std,
                        "status": status,
                        "reported": ref,
                        "delta": mean - ref,
                        "verdict": verdict,
                        "reason": "run x failed: loss is nan" if status == "failed" else "",
                    }
                )
            for s in seeds:
                st = "finished" if s in finished else "failed" if status == "failed" else "not-run"
                run_rows.append(
                    {
                        **base,
                        "seed": s,
                        "role": "cell",
                        "run_id": f"{i:04d}{s:04d}",
                        "status": st,
                        **per_seed[s],
                    }
                )
        for claim in exp.claims:
            head = {"experiment": exp.id, "profile": profile_id, "claim": claim.id}
            head |= {"kind": claim.kind, "source": claim.source, "gate": claim.gate}
            head |= {"metric": claim.metric, "text": claim.text, "verdict": "inconclusive"}
            claim_rows.append({**head, "group": "all", "outcome": "inconclusive", "note": "1/2"})
            for i, cell in enumerate(c for c in plan.cells if c.key.get("method") != "baseline"):
                keys = [k for k in ("dataset", "variant") if k in cell.key]
                d = 1.0 - 0.5 * i
                claim_rows.append(
                    {
                        **head,
                        "group": ",".join(f"{k}={fmt_value(cell.key[k])}" for k in keys),
                        "outcome": "holds" if i == 0 else "unclear",
                        **dict(diff=d, ci_lo=d - 0.8, ci_hi=d + 0.8, a_mean=81.0, b_mean=80.0),
                    }
                )
        out_dir.mkdir(parents=True, exist_ok=True)
        frames.write(out_dir / f"{exp.id}.csv", agg_rows, AGGREGATE, AGGREGATE.header(axes))
        frames.write(out_dir / f"{exp.id}_runs.csv", run_rows, RUNS, RUNS.header())
        frames.write(out_dir / f"{exp.id}_claims.csv", claim_rows, CLAIMS, CLAIMS.header())
        render(exp, layout, profile, out_dir)
        done.append(exp.id)
    write_macros(profile, out_dir)
    return done


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    """Profile id -> the directory holding its rendered tables."""
    import bench.present.forest

    root = tmp_path_factory.mktemp("rendered")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        # the forest's plot is half this fixture's time and holds no LaTeX; its .tex is written
        # before the plot, from the same rows
        mp.setattr(bench.present.forest, "_plot", lambda *args: [])
        for p in PROFILES:
            ids = fabricate(p, root / p, root / "runs")
            assert "table1" in ids and "reconstruction" in ids
            out[p] = root / p
    return out


@pytest.mark.parametrize("profile_id", PROFILES)
def test_every_rendered_table_of_a_profile_compiles(rendered, profile_id, tmp_path):
    d = rendered[profile_id]
    tables = sorted(p for p in d.glob("*.tex") if p.name != "macros.tex")
    names = {p.stem for p in tables}
    assert {f"table{i}" for i in range(1, 9)} | {"reconstruction"} <= names
    assert "reconstruction_forest" in names  # the reconstruction study's table of differences
    for p in [*tables, d / "macros.tex"]:
        shutil.copy(p, tmp_path / p.name)
    # a float per table: clear the page after each, or LaTeX runs out of float slots
    body = "\n".join(rf"\input{{{p.name}}}\clearpage" for p in tables)
    macros = [ln for ln in (d / "macros.tex").read_text().splitlines() if ln.startswith("\\new")]
    if profile_id != "paper":
        assert macros  # finished cells have macros, and each must be defined once
        body += "\n" + macros[0].split("{", 2)[1].rstrip("}")  # use one
    compile_latex(body, tmp_path, PREAMBLE + "\n\\input{macros.tex}")
    small = (d / "table1.tex").read_text()
    assert "% needs \\usepackage{booktabs}" in small  # the preamble is documented in the file


def test_the_small_caption_is_escaped_and_whole(rendered):
    tex = (rendered["small"] / "table1.tex").read_text()
    cap = next(ln for ln in tex.splitlines() if ln.startswith("\\caption{"))
    # an unescaped % would comment out the rest of the line, closing brace included
    assert "%" not in cap.replace("\\%", "")
    assert cap.endswith("}") and "95 \\% Student-t interval" in cap


def test_every_ascii_and_mapped_character_compiles_when_escaped(tmp_path):
    text = string.printable + "".join(LATEX_SPECIAL) + "äéöüßÀÿ"
    escaped = latex_escape(text)
    body = (
        "\\begin{table}\\caption{"
        + escaped
        + "}\\begin{tabular}{ll}\\toprule\n"
        + escaped
        + " & "
        + latex_escape("a_b 95 % #1 {x}")
        + " \\\\\n\\bottomrule\\end{tabular}"
        "\\end{table}\n" + escaped
    )
    compile_latex(body, tmp_path)


def test_a_character_latex_cannot_typeset_is_refused_naming_the_text():
    with pytest.raises(ValueError, match=r"'T ≅ 2'.*U\+2245"):
        latex_escape("T ≅ 2")


COMMITTED = Path(__file__).resolve().parents[1] / "results"


@pytest.mark.parametrize("profile_id", ["quick", "small"])
def test_every_committed_table_compiles(profile_id, tmp_path):
    """The .tex files committed beside the run records (what a reader copies into a paper)."""
    d = COMMITTED / profile_id
    tables = sorted(p for p in d.glob("*.tex") if p.name != "macros.tex")
    if not tables:
        pytest.skip(f"results/{profile_id}/ holds no committed table")
    for p in [*tables, d / "macros.tex"]:
        shutil.copy(p, tmp_path / p.name)
    body = "\n".join(rf"\input{{{p.name}}}\clearpage" for p in tables)
    compile_latex(body, tmp_path, PREAMBLE + "\n\\input{macros.tex}")
