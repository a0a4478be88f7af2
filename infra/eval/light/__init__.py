"""SIMULATED evaluation of the screen-light challenge (``vigil eval light``, docs/evaluation.md)."""
