"""Benchmarks behind README's performance table (`python -m bench`)."""
