"""Stage 2, execute: the planned runs trained, cached and recorded. The runner with its cache,
resumption and progress (:mod:`~bench.execute.run`), the launchers (local fork server
:mod:`~bench.execute.launch`, torchrun and SLURM :mod:`~bench.execute.scaleout`), the one-job
worker (:mod:`~bench.execute.worker`) and the run records written as runs finish
(:mod:`~bench.execute.records`). Imports plan, never analyse or present.
"""
