"""Parley benchmarks (issue #7): ``.venv/bin/python bench/run_all.py [--quick]``; see docs/BENCHMARKS.md."""
