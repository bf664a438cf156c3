"""Benchmarks behind docs/performance.md (`python -m bench`)."""
