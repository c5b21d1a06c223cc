"""The reproduction harness: every table and figure of the paper, run, rendered and compared.

Data flows one way (DESIGN.md), through four stages, each a sub-package that imports no later
one (``tests/test_bench_layout.py``): :mod:`bench.plan` (experiment YAML -> expanded, hashed run
configs), :mod:`bench.execute` (``tssd.train`` through a launcher -> run directories -> run
records), :mod:`bench.analyse` (records -> aggregate CSVs with verdicts and claims) and
:mod:`bench.present` (CSVs -> LaTeX, Markdown, figures, ``REPORT.md``). :mod:`bench.stats` is the
statistics every stage uses; :mod:`bench.pipeline`, :mod:`bench.regression` and :mod:`bench.cli`
drive the stages. Rendering reads only CSVs; comparing reads only CSVs and ``paper_tables/``.
``tssd`` never imports ``bench``; ``bench`` uses ``tssd`` only through :mod:`tssd.api`.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""Repository root (holds ``paper_tables/`` and the default ``results/``)."""
BENCH_DIR = Path(__file__).resolve().parent
EXPERIMENTS_DIR = BENCH_DIR / "experiments"
PROFILES_DIR = BENCH_DIR / "profiles"
PAPER_TABLES_DIR = ROOT / "paper_tables"
