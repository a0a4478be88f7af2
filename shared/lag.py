"""How far behind a consumer group reads its stream, measured on each fresh batch: a stream
entry's id is the time it was added (ms), so now minus the oldest id of a batch is the lag.

The frames stream keeps ``bus.frames_max_age_s`` of frames (shared/retention.py); a consumer
(the video builder, the FileLogger, the estimator) that lags past half of that is warned about,
at most once a minute, before it starts losing frames to the trim.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)
WARN_EVERY_S = 60.0


def entry_ms(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


class LagWatch:
    def __init__(self, stream: str, group: str, warn_after_s: float) -> None:
        self.stream, self.group, self.warn_after_s = stream, group, warn_after_s
        self.max_lag_s = 0.0  # the worst seen, for benchmarks and tests
        self._warned_at = float("-inf")

    def observe(self, entries: Sequence[tuple[bytes, object]], now: float | None = None) -> float:
        """The lag of the oldest entry of a freshly read batch, in seconds (0 for none)."""
        if not entries:
            return 0.0
        now = time.time() if now is None else now
        lag = max(0.0, now - entry_ms(entries[0][0]) / 1000)
        self.max_lag_s = max(self.max_lag_s, lag)
        if lag > self.warn_after_s and time.monotonic() - self._warned_at > WARN_EVERY_S:
            self._warned_at = time.monotonic()
            log.warning("group %s reads %s %.0f s behind (frames older than %.0f s are trimmed)",
                        self.group, self.stream, lag, 2 * self.warn_after_s)
        return lag
