"""The shared consumer loop on a real Redis: ack after output, reclaim, dead letters, drain,
and recovery from a Redis restart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from infra.dead_letters_command import report
from infra.redis_server import RedisServer
from shared.bus import is_idle, publish
from shared.consumer import Consumer, Delivery
from shared.errors import BusUnavailable
from shared.keys import Keys
from shared.messages import ENTRY_FIELD, Message, ReplyKind, ReplyMessage, decode
from shared.redis_connect import VigilRedis
from shared.retention import StreamRetention
from shared.settings import BusSettings

BUS = BusSettings(block_ms=50, claim_idle_ms=200, max_deliveries=2)
GROUP = "workers"


def reply(n: int) -> ReplyMessage:
    return ReplyMessage(session_id="s", request_id=f"r{n}", frame_no=n, kind=ReplyKind.STATS)


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.seen: list[int] = []
        self.fail_times = fail_times

    async def __call__(self, batch: Sequence[Delivery[ReplyMessage]]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("simulated handler failure")
        self.seen.extend(d.message.frame_no for d in batch)


def consumer(redis: Redis, keys: Keys, handler: Recorder, name: str = "c1") -> Consumer[ReplyMessage]:
    return Consumer(redis, keys, BUS, stream=keys.estimations, group=GROUP, kind=ReplyMessage,
                    handler=handler, name=name)


async def add(redis: Redis, keys: Keys, *messages: Message) -> None:
    for message in messages:
        await publish(redis, keys.estimations, message, maxlen=1000)


@pytest.mark.anyio
async def test_processes_in_order_and_acknowledges(redis: Redis, keys: Keys) -> None:
    await add(redis, keys, *(reply(n) for n in range(1, 6)))
    recorder = Recorder()
    with anyio.fail_after(10):
        await consumer(redis, keys, recorder).run(drain=True)
    assert recorder.seen == [1, 2, 3, 4, 5]
    assert await is_idle(redis, keys.estimations, GROUP)
    assert (await redis.xpending(keys.estimations, GROUP))["pending"] == 0


@pytest.mark.anyio
async def test_failed_handler_is_retried_then_succeeds(redis: Redis, keys: Keys) -> None:
    await add(redis, keys, reply(1))
    recorder = Recorder(fail_times=1)
    with anyio.fail_after(10):
        await consumer(redis, keys, recorder).run(drain=True)
    assert recorder.seen == [1]
    assert await redis.xlen(keys.dead_letter(keys.estimations)) == 0


@pytest.mark.anyio
async def test_poison_entry_goes_to_dead_letters_after_max_deliveries(redis: Redis, keys: Keys) -> None:
    await add(redis, keys, reply(1))
    recorder = Recorder(fail_times=100)
    with anyio.fail_after(15):
        await consumer(redis, keys, recorder).run(drain=True)
    dead = await redis.xrange(keys.dead_letter(keys.estimations))
    assert len(dead) == 1
    fields = dead[0][1]
    assert b"failed" in fields[b"reason"]
    assert decode(ReplyMessage, {ENTRY_FIELD: fields[b"payload"]}).frame_no == 1
    assert (await redis.xpending(keys.estimations, GROUP))["pending"] == 0


@pytest.mark.anyio
async def test_undecodable_entries_are_parked_and_the_rest_processed(redis: Redis, keys: Keys) -> None:
    await add(redis, keys, reply(1))
    await redis.xadd(keys.estimations, {ENTRY_FIELD: b"\xc1 not msgpack"})
    frame_like = {ENTRY_FIELD: b"\x82\xa1t\xa5frame\xa1v\x01"}  # a valid map of the wrong type
    await redis.xadd(keys.estimations, frame_like)  # type: ignore[arg-type]
    await add(redis, keys, reply(2))
    recorder = Recorder()
    with anyio.fail_after(10):
        await consumer(redis, keys, recorder).run(drain=True)
    assert recorder.seen == [1, 2]
    dead = await redis.xrange(keys.dead_letter(keys.estimations))
    assert [fields[b"payload"] for _, fields in dead] == [b"\xc1 not msgpack", frame_like[ENTRY_FIELD]]
    # What an operator sees of them (`vigil dead-letters`).
    said: list[str] = []
    await report(redis, keys, None, 10, said.append)
    assert said == ["estimations: 2"]
    said.clear()
    await report(redis, keys, "estimations", 10, said.append)
    newest, oldest = said  # newest first, each with its group, reason and what the payload claims to be
    assert " workers " in newest
    assert "expected 'reply'" in newest
    assert newest.endswith("[type 'frame' v1]")
    assert "not msgpack" in oldest
    assert oldest.endswith("[13 bytes, not msgpack]")
    # A reason that quotes a hostile entry cannot drive the operator's terminal.
    await redis.xadd(keys.dead_letter("estimations"),
                     {"stream": "s", "id": "1-0", "group": GROUP, "reason": "bad \x1b[2J", "payload": b""})
    said.clear()
    await report(redis, keys, "estimations", 1, said.append)
    assert "bad \\x1b[2J" in said[0]
    assert "\x1b" not in said[0]


@pytest.mark.anyio
async def test_entries_of_a_crashed_consumer_are_claimed(redis: Redis, keys: Keys) -> None:
    await add(redis, keys, reply(1), reply(2))
    await redis.xgroup_create(keys.estimations, GROUP, id="0")
    # A consumer that read both entries and died before acknowledging them.
    await redis.xreadgroup(GROUP, "dead-worker", {keys.estimations: ">"}, count=10)
    recorder = Recorder()
    with anyio.fail_after(10):
        await consumer(redis, keys, recorder, name="survivor").run(drain=True)
    assert sorted(recorder.seen) == [1, 2]
    assert (await redis.xpending(keys.estimations, GROUP))["pending"] == 0


@pytest.mark.anyio
async def test_survives_a_redis_restart(tmp_path: Path, prefix: str) -> None:
    server = RedisServer(tmp_path / "redis", persist=False)
    server.start()
    keys = Keys(prefix)
    client = VigilRedis.from_url(server.url, retry_on_timeout=True)
    recorder = Recorder()
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consumer(client, keys, recorder).run)
            await add(client, keys, reply(1))
            with anyio.fail_after(10):
                while recorder.seen != [1]:
                    await anyio.sleep(0.02)
            # Restart without persistence: the stream and the consumer group are gone.
            await anyio.to_thread.run_sync(server.stop)
            await anyio.sleep(0.3)
            await anyio.to_thread.run_sync(server.start)
            with anyio.fail_after(20):
                while recorder.seen != [1, 2]:
                    try:
                        if not await client.exists(keys.estimations) or await client.xlen(keys.estimations) == 0:
                            await add(client, keys, reply(2))
                    except BusUnavailable:
                        pass  # still restarting; the loop tries again
                    await anyio.sleep(0.2)
            tasks.cancel_scope.cancel()
    finally:
        await client.aclose()
        server.stop()
    assert recorder.seen == [1, 2]


@pytest.mark.anyio
@pytest.mark.parametrize("publisher", ["bus", "retention"])
async def test_a_full_redis_pauses_the_consumer_and_never_ends_it(redis: Redis, keys: Keys, publisher: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Redis at maxmemory (noeviction) refuses the handler's writes and the dead-letter copy alike:
    the consumer backs off and goes on once there is room (the 30-minute soak lost its estimators
    to this before)."""
    await add(redis, keys, reply(1))
    full, written = anyio.Event(), []

    async def publishing(batch: Sequence[Delivery[ReplyMessage]]) -> None:  # as the estimator publishes
        await full.wait()
        if publisher == "bus":  # one XADD
            await publish(redis, keys.decisions, batch[0].message, maxlen=10)
        else:  # as the ingress and the estimator publish images: a pipeline
            await StreamRetention(BusSettings()).publish(redis, [(keys.decisions, batch[0].message, 1000)])
        written.append(batch[0].message.frame_no)

    bus = BusSettings(block_ms=100, claim_idle_ms=100, max_deliveries=1)
    gate = Consumer(redis, keys, bus, stream=keys.estimations, group=GROUP, kind=ReplyMessage, handler=publishing)
    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(gate.run)
                await anyio.sleep(0.5)  # the entry is read, its handler waits
                used = int((await redis.info("memory"))["used_memory"])
                await redis.config_set("maxmemory", max(1, used - 1_000_000))
                full.set()
                await anyio.sleep(2)  # every write refused meanwhile, the dead letter's included
                assert not written
                await redis.config_set("maxmemory", 0)
                while not await is_idle(redis, keys.estimations, GROUP):
                    await anyio.sleep(0.05)
                tasks.cancel_scope.cancel()
    finally:
        await redis.config_set("maxmemory", 0)
    dead = await redis.xlen(keys.dead_letter(keys.estimations))
    assert len(written) + dead == 1  # once Redis had room: answered, or set aside after its deliveries
    assert "handler failed" not in caplog.text  # backed off as for a lost Redis, not counted as a bug
