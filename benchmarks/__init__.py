"""The benchmark suite (pytest-benchmark): ``nox -s benchmark``; see benchmarks/conftest.py."""
