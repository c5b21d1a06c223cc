"""Stage 4, present: CSVs -> tables, figures, ``REPORT.md`` and printed verdicts (no torch)."""
