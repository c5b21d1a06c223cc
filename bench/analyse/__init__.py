"""Stage 3, analyse: run records -> aggregate CSVs, claims and verdicts."""
