"""Stage 4, present: the CSVs written as tables (:mod:`~bench.present.render`), figures
(:mod:`~bench.present.figures`, :mod:`~bench.present.forest`), ``REPORT.md`` and the README's
claims (:mod:`~bench.present.report`) and printed verdicts (:mod:`~bench.present.verdicts`).
Every table is one model written as LaTeX or Markdown (:mod:`~bench.present.table`); every number
a reader sees is formatted by :mod:`~bench.present.fmt`. Loads no torch
(``tests/test_torch_free.py``).
"""
