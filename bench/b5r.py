"""B5r, the sparse rush: see bench/b5.py (the harness wants one module per scenario)."""

from bench.b5 import run_sparse as run

__all__ = ["run"]
