"""Stage 1, plan: what to run. Experiments, profiles and paper tables read as typed objects
(:mod:`~bench.plan.schema`), expanded into cells and hashed run configs
(:mod:`~bench.plan.expand`), and the optional dependencies a plan needs checked before anything
runs (:mod:`~bench.plan.deps`). Imports no later stage.
"""
