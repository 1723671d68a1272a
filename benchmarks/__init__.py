"""Benchmark scripts for tipqual (run them directly; they print figures)."""
