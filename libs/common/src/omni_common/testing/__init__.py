"""Helpers for the project's own tests and benchmarks (never imported by a service)."""
