"""``vigil eval``: liveness measured on real media through the running pipeline (docs/evaluation.md)."""
