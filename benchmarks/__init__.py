"""Benchmarks: run on purpose, never as tests."""
