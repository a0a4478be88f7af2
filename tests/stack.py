"""The tests run Vigil's services as real processes with the same helper ``vigil eval`` uses."""

from infra.eval.stack import ROOT, Stack

__all__ = ["ROOT", "Stack"]
