"""One simulated person: an LPProto session sending real frames at a fixed rate, waiting for each
reply as the protocol requires, and starting a new session whenever the service ends one."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed, InvalidStatus

from infra.client import LPClient
from shared.errors import SystemCode
from shared.lpproto import Command

FRAME_TIMEOUT_S = 30.0  # the ingress answers ERROR 1014 after its own reply timeout (15 s) anyway
RETRY_AFTER_CAP_S = 10.0  # a refused client retries no later than this, whatever the header says
# Browsers deflate what they send at zlib level 6 on their own CPU; here every simulated person
# shares the measured machine's cores, where level 6 cost 1.8 ms a frame against 0.7 at level 1
# (22.0 vs 22.7 KiB a frame). The server inflates either the same way (~0.1 ms).
DEFLATE_LEVEL = 1


@dataclass
class Tally:
    """What every session of one load level saw; times are ``time.monotonic()`` seconds."""

    round_trips: list[tuple[float, float]] = field(default_factory=list)  # (sent at, seconds)
    replies: Counter[str] = field(default_factory=Counter)  # STATS, SUCCESS, ERROR <code>
    closes: Counter[int] = field(default_factory=Counter)  # close codes of sessions the service ended
    refused: Counter[int] = field(default_factory=Counter)  # CONNECT answered ERROR <code>
    failures: Counter[str] = field(default_factory=Counter)  # transport failures and deadlines
    late: int = 0  # frames sent after their tick because the previous reply came late
    sessions: int = 0  # sessions admitted (CONNECTED)


class PacedSession:
    def __init__(self, url: str, frames: list[bytes], offset: int, fps: float, tally: Tally) -> None:
        self.url, self.frames, self.period, self.tally = url, frames, 1.0 / fps, tally
        self.index = offset
        self.client: LPClient | None = None

    async def run(self, stop: asyncio.Event) -> None:
        next_tick = time.monotonic()
        try:
            while not stop.is_set():
                if self.client is None and not await self._open(stop):
                    next_tick = time.monotonic()
                    continue
                now = time.monotonic()
                if next_tick > now:
                    await asyncio.sleep(next_tick - now)
                elif now - next_tick > self.period / 2:
                    self.tally.late += 1
                    next_tick = now  # behind: send at once, and keep the rate from here
                next_tick += self.period
                await self._send()
        finally:
            await self._close()

    async def _open(self, stop: asyncio.Event) -> bool:
        client = LPClient(self.url, deflate_level=DEFLATE_LEVEL)
        try:
            await client.__aenter__()
            reply = await asyncio.wait_for(client.connect(), FRAME_TIMEOUT_S)
        except (OSError, TimeoutError, ConnectionClosed, InvalidStatus) as exc:
            self.tally.failures[f"connect: {type(exc).__name__}"] += 1
            await client.__aexit__()
            await _pause(stop, 1.0)
            return False
        if reply.command is Command.CONNECTED:
            self.client, self.tally.sessions = client, self.tally.sessions + 1
            return True
        await client.__aexit__()
        code = reply.error_code or int(SystemCode.INTERNAL)
        self.tally.refused[code] += 1
        retry_after = float(reply.message.headers.get("retry-after", "1"))
        await _pause(stop, min(max(retry_after, 0.1), RETRY_AFTER_CAP_S))
        return False

    async def _send(self) -> None:
        assert self.client is not None
        frame = self.frames[self.index % len(self.frames)]
        began = time.monotonic()
        try:
            reply = await asyncio.wait_for(self.client.frame(frame), FRAME_TIMEOUT_S)
        except ConnectionClosed as exc:
            # The service ended the session after its previous reply: not this frame's failure.
            self.tally.closes[exc.rcvd.code if exc.rcvd is not None else 1006] += 1
            await self._close()
            return
        except TimeoutError:
            self.tally.failures["no reply in 30 s"] += 1
            await self._close()
            return
        self.index += 1
        self.tally.round_trips.append((began, time.monotonic() - began))
        kind = reply.command.value if reply.command is not Command.ERROR else f"ERROR {reply.error_code}"
        self.tally.replies[kind] += 1
        if reply.command is Command.SUCCESS:
            self.tally.closes[1000] += 1
            await self._close()

    async def _close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.__aexit__()


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):  # the pause is over: go on
        await asyncio.wait_for(stop.wait(), seconds)
