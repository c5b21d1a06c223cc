"""Stage 3, analyse: run records turned into numbers and verdicts. The aggregate CSVs
(:mod:`~bench.analyse.aggregate`), claims (:mod:`~bench.analyse.claims`), verdicts against a
reference (:mod:`~bench.analyse.compare`) and every results CSV's columns and dtypes, written and
read as typed pandas frames (:mod:`~bench.analyse.frames`). Imports plan and execute, never present.
"""
