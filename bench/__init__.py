"""Benchmark harness of the inbound pipeline (not part of the test suite); see docs/performance.md."""
