"""The comparison benchmark: ours against procrastinate 3.10 and pgqueuer 1.6.

``scripts/benchmarks compare`` runs it (``python -m tests.benchmarks.compare``); the
docs page ``docs/benchmarks.md`` says what each figure means.
"""
