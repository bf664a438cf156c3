"""Benchmarks behind docs/performance.md (`python -m bench`)."""
import utils.cpu_threads  # noqa: F401,E402  (before torch: OpenMP's wait policy)
