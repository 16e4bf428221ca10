"""Prototypes of the fixes proposed in docs/BENCHMARKS.md, measured next to Parley by ``run_all.py --prototypes``.

Not used by Parley. They keep its semantics (guarded updates, attempts counted before the work, commit before
send) and change only how the work reaches the database; the application code itself is left to its owners.
"""
