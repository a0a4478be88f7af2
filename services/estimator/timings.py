"""Per-stage wall-clock timings of one frame, carried in the estimation for benchmarks and logs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timings:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            key = str(name)  # a shared.stages.Stage is stored as its plain name
            self.ms[key] = round(self.ms.get(key, 0.0) + (time.perf_counter() - started) * 1000, 3)


@contextmanager
def shared_stage(timings: list[Timings], name: str) -> Iterator[None]:
    """Times a batched stage once and charges each frame of the batch its share."""
    started = time.perf_counter()
    try:
        yield
    finally:
        share = (time.perf_counter() - started) * 1000 / max(len(timings), 1)
        for each in timings:
            each.ms[str(name)] = round(each.ms.get(str(name), 0.0) + share, 3)
