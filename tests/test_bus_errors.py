"""Redis's failures become Vigil's errors at one boundary (shared/redis_connect.py): each kind of
redis-py exception, a command's, a pipeline's and a transaction's on a real Redis, while redis-py's
own handling of a flushed Lua script still works."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.exceptions import (
    AuthenticationError,
    DataError,
    NoScriptError,
    OutOfMemoryError,
    RedisError,
    ResponseError,
    WatchError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.redis_server import free_port
from shared.bus import ping
from shared.errors import BusConflict, BusError, BusFull, BusRefused, BusUnavailable, SystemCode, VigilError
from shared.keys import Keys
from shared.redis_connect import bus_error, connect, translated
from shared.settings import RedisSettings


@pytest.mark.parametrize(("raised", "expected"), [
    (OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), BusFull),
    (RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."), BusUnavailable),
    (AuthenticationError("invalid username-password pair"), BusUnavailable),
    (RedisTimeoutError("Timeout reading from socket"), BusUnavailable),
    (ConnectionResetError(104, "Connection reset by peer"), BusUnavailable),
    (WatchError("Watched variable changed."), BusConflict),
    (ResponseError("NOGROUP No such key 'p:frames' or consumer group 'estimator'"), BusRefused),
    (DataError("Invalid input of type: 'NoneType'."), BusError),
])
def test_each_redis_failure_has_one_vigil_error(raised: RedisError | OSError, expected: type[BusError]) -> None:
    error = bus_error(raised)
    assert type(error) is expected
    assert isinstance(error, VigilError)
    assert str(raised) in str(error)  # the log keeps redis-py's words


@pytest.mark.anyio
async def test_a_flushed_script_is_loaded_again_by_redis_py() -> None:
    async def missing() -> None:
        raise NoScriptError("No matching script.")

    with pytest.raises(NoScriptError):  # not translated: redis-py's Script catches it and reloads
        await translated(missing())


@pytest.mark.anyio
async def test_an_unreachable_redis_is_bus_unavailable() -> None:
    redis = connect(RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0"))
    try:
        with pytest.raises(BusUnavailable) as caught:
            await ping(redis)
        assert caught.value.code is SystemCode.BUS_UNAVAILABLE
        assert isinstance(caught.value.__cause__, RedisConnectionError)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xlen("x")
            with pytest.raises(BusUnavailable):
                await pipe.execute()
    finally:
        await redis.aclose()


@pytest.mark.anyio
async def test_refusals_and_conflicts_on_a_real_redis(redis: Redis, keys: Keys) -> None:
    stream = keys.frames
    await redis.xgroup_create(stream, "g", id="0", mkstream=True)
    with pytest.raises(BusRefused, match="BUSYGROUP"):
        await redis.xgroup_create(stream, "g", id="0", mkstream=True)
    with pytest.raises(BusRefused, match="NOGROUP"):
        await redis.xreadgroup("missing", "c", {stream: ">"}, count=1)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(stream)
        with pytest.raises(BusRefused, match="WRONGTYPE"):  # a pipeline's first error
            await pipe.execute()
    key = keys.config
    async with redis.pipeline(transaction=True) as pipe:
        await pipe.watch(key)
        await redis.set(key, "changed meanwhile")
        pipe.multi()  # type: ignore[no-untyped-call]
        pipe.set(key, "mine")
        with pytest.raises(BusConflict):
            await pipe.execute()
    assert await redis.get(key) == b"changed meanwhile"


@pytest.mark.anyio
async def test_a_script_survives_a_flush_of_the_script_cache(redis: Redis, keys: Keys) -> None:
    """As after a Redis restart: the claim scripts of the video builder run again (NOSCRIPT reloads)."""
    script = redis.register_script("return redis.call('INCR', KEYS[1])")
    assert await script(keys=[keys.config]) == 1
    await redis.script_flush()
    assert await script(keys=[keys.config]) == 2
