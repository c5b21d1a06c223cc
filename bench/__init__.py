"""The reproduction harness: every table and figure of the paper, run, rendered and compared.

Data flows one way (DESIGN.md): experiment YAML (:mod:`bench.schema`) -> expanded, hashed run
configs (:mod:`bench.expand`) -> ``tssd.train`` through a launcher (:mod:`bench.run`,
:mod:`bench.launch`) -> run directories -> aggregate CSVs with verdicts (:mod:`bench.aggregate`,
:mod:`bench.claims`, :mod:`bench.compare`) -> LaTeX, Markdown and figures (:mod:`bench.render`,
:mod:`bench.figures`). Rendering reads only CSVs; comparing reads only CSVs and ``paper_tables/``.
``tssd`` never imports ``bench``.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""Repository root (holds ``paper_tables/`` and the default ``results/``)."""
BENCH_DIR = Path(__file__).resolve().parent
EXPERIMENTS_DIR = BENCH_DIR / "experiments"
PROFILES_DIR = BENCH_DIR / "profiles"
PAPER_TABLES_DIR = ROOT / "paper_tables"
