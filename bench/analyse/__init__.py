"""Stage 3, analyse: run records turned into numbers and verdicts. The aggregate CSVs
(:mod:`~bench.analyse.aggregate`), claims (:mod:`~bench.analyse.claims`) and verdicts against a
reference (:mod:`~bench.analyse.compare`). Imports plan and execute, never present.
"""
