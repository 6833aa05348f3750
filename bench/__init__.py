"""Benchmarks: `make bench` scenarios (B0…) against the real serving setup, with baselines in the same run."""
