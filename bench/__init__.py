"""Benchmarks run against the local emulator (see docs/benchmarks.md)."""
