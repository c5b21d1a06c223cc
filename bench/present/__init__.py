"""Stage 4, present: tables (:mod:`.render`, one model in :mod:`.table`, every number by
:mod:`.fmt`), figures (:mod:`.figures`, :mod:`.forest`), ``REPORT.md`` and the README's claims
(:mod:`.report`) and printed verdicts (:mod:`.verdicts`). Loads no torch (tests/test_torch_free.py).
"""
