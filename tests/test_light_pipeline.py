"""The light challenge through the running pipeline (ingress, estimator, decider, plugins on a real
Redis) with a Python client that plays the page: it paints what each STATS says (here: renders the
next frame as lit by it) and tags its frames. The physics of a real face is in the simulated
evaluation (`vigil eval light`, tests/test_eval_light.py); here the plumbing and the outcomes:
the CONNECTED policy, the steps in STATS (production mode too), the tags, the no-light path for a
client written from the guide, the codes and close codes, the JWT's ``defences``."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient, Reply
from infra.redis_server import RedisServer
from shared.errors import FrameCheck
from shared.light import linear_rgb, srgb_to_linear
from shared.lpproto import Command
from shared.tokens import verify_token
from tests import media
from tests.stack import Stack

KEY = "light-pipeline-signing-key-" + "k" * 32
# The stack needs no actions (off) and decides on 3 frames, so sessions are short.
BASE = {"VIGIL_ENV": "production", "VIGIL_JWT__KEY": KEY, "VIGIL_SESSION__AGGREGATE_FRAMES": "3",
        "VIGIL_LIGHT_CHALLENGE__IS_ENABLED": "true", "VIGIL_LIGHT_CHALLENGE__MAX_RETRIES": "1"}
Render = Callable[[Image.Image, dict[str, object] | None], bytes]
TO_LINEAR = np.array([srgb_to_linear(v / 255) for v in range(256)])


def to_srgb(linear: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    clipped = np.clip(linear, 0, 1)
    encoded = np.where(clipped <= 0.0031308, 12.92 * clipped, 1.055 * clipped ** (1 / 2.4) - 0.055)
    result: npt.NDArray[np.uint8] = np.round(encoded * 255).astype(np.uint8)
    return result


def unlit(image: Image.Image, _: dict[str, object] | None) -> bytes:
    """A replay or a client that paints nothing: the frames never change with the screen."""
    return media.jpeg(image)


def tint(share: float) -> Render:
    """A screen filmed while the flash lights it: the whole frame takes the screen's mean colour."""
    def render(image: Image.Image, step: dict[str, object] | None) -> bytes:
        colors = step["colors"] if step else ["#ffffff"]
        assert isinstance(colors, list)
        colour = np.mean([linear_rgb(str(c)) for c in colors], axis=0)
        linear = TO_LINEAR[np.asarray(image)] * (1 + share * (colour - 1))
        return media.jpeg(Image.fromarray(to_srgb(linear)))
    return render


class Page:
    """Paints each reply's ``lightChallenge`` before the next frame and tags that frame with it."""

    def __init__(self, client: LPClient, image: Image.Image, render: Render) -> None:
        self.client, self.image, self.render = client, image, render
        self.step: dict[str, object] | None = None
        self.painted_ms = 0.0
        self.steps_seen: list[int] = []

    async def frame(self) -> Reply:
        headers = {}
        if self.step is not None:
            headers = {"light-step": str(self.step["step"]), "light-painted": f"{self.painted_ms:.1f}"}
        reply = await self.client.frame(self.render(self.image, self.step), extra=headers)
        if reply.command is Command.STATS:
            step = reply.stats()["estimations"].get("lightChallenge")
            if step is not None and (self.step is None or step["step"] != self.step["step"]):
                self.steps_seen.append(int(step["step"]))
                self.painted_ms += 1.0
            self.step = step
        return reply

    async def until_done(self, limit_s: float = 60.0) -> list[Reply]:
        # Bounded in time, not in frames: the server's steps last milliseconds, so a faster machine
        # sends more frames per sequence (a frame count cut CI's two-sequence session short).
        deadline = anyio.current_time() + limit_s
        replies = [await self.frame()]
        while replies[-1].command is Command.STATS and anyio.current_time() < deadline:
            await anyio.sleep(0.05)  # a page's frame interval: steps last 250-500 ms
            try:
                replies.append(await self.frame())
            except ConnectionClosed:
                break
        return replies


@pytest.fixture
def stack_factory(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def make(**overrides: str) -> Stack:
        stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path / f"s{len(stacks)}",
                      **{**BASE, **overrides})
        stacks.append(stack)
        stack.start_all("ingress", "estimator", "decider", "plugins")
        return stack

    yield make
    for stack in stacks:
        stack.stop()


async def close_code(client: LPClient) -> int | None:
    with pytest.raises(ConnectionClosed) as closed, anyio.fail_after(5):
        await client.receive()
    return closed.value.rcvd.code if closed.value.rcvd else None


def portrait(data_dir: Path) -> Image.Image:
    return Image.open(io.BytesIO(media.neutral_jpeg(data_dir))).convert("RGB")


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_client_from_the_guide_takes_the_no_light_path(stack_factory: Callable[..., Stack],
                                                               data_dir: Path) -> None:
    stack = stack_factory()
    async with LPClient(stack.ws_url) as client:
        connected = await client.connect()
        assert connected.message.headers["light"] == "optional"
        replies = await Page(client, portrait(data_dir), unlit).until_done()
    assert replies[-1].command is Command.SUCCESS
    assert all("lightChallenge" not in r.stats()["estimations"] for r in replies[:-1])
    payload = verify_token(replies[-1].message.body, key=KEY, algorithms=["HS256"])
    assert payload["defences"] == []  # actions off, light skipped: a relying party sees both


@pytest.mark.slow
@pytest.mark.anyio
async def test_no_reflection_is_too_weak_then_the_no_light_path(stack_factory: Callable[..., Stack],
                                                                data_dir: Path) -> None:
    stack = stack_factory()
    async with LPClient(stack.ws_url) as client:
        await client.connect(extra={"light": "1"})
        page = Page(client, portrait(data_dir), unlit)
        replies = await page.until_done()
    stats = [r.stats() for r in replies if r.command is Command.STATS]
    # Production mode still carries the step to paint, and the prompt to hold still.
    assert stats[0]["estimations"]["lightChallenge"]["step"] == 0
    assert FrameCheck.LIGHT_HOLD_STILL in stats[0]["errors"]
    assert set(stats[0]["estimations"]) <= {"faceCount", "faceFramePosition", "lightChallenge"}
    assert sum(FrameCheck.LIGHT_TOO_WEAK in s["errors"] for s in stats) == 1  # one retry, a fresh sequence
    assert page.steps_seen.count(0) == 2
    assert replies[-1].command is Command.SUCCESS
    assert verify_token(replies[-1].message.body, key=KEY, algorithms=["HS256"])["defences"] == []


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_whole_frame_tint_ends_the_session(stack_factory: Callable[..., Stack], data_dir: Path) -> None:
    stack = stack_factory()
    async with LPClient(stack.ws_url) as client:
        await client.connect(extra={"light": "1"})
        replies = await Page(client, portrait(data_dir), tint(0.4)).until_done()
        last = replies[-1].stats()
        assert FrameCheck.LIGHT_FAILED in last["errors"]
        assert await close_code(client) == 4000


@pytest.mark.slow
@pytest.mark.anyio
async def test_light_required_refuses_a_client_that_cannot_show_it(stack_factory: Callable[..., Stack],
                                                                    data_dir: Path) -> None:
    stack = stack_factory(VIGIL_LIGHT_CHALLENGE__ALLOW_DECLINE="false")
    async with LPClient(stack.ws_url) as client:
        connected = await client.connect()
        assert connected.message.headers["light"] == "required"
        reply = await client.frame(media.neutral_jpeg(data_dir))
        assert FrameCheck.LIGHT_REQUIRED in reply.stats()["errors"]
        assert await close_code(client) == 4000
    async with LPClient(stack.ws_url) as client:  # declining ends it the same way
        await client.connect(extra={"light": "declined"})
        reply = await client.frame(media.neutral_jpeg(data_dir))
        assert FrameCheck.LIGHT_REQUIRED in reply.stats()["errors"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_bad_light_headers_get_documented_errors(stack_factory: Callable[..., Stack], data_dir: Path) -> None:
    stack = stack_factory()
    async with LPClient(stack.ws_url) as client:
        assert (await client.connect(extra={"light": "maybe"})).error_code == 1018
        await client.connect(extra={"light": "1"})
        for headers in ({"light-step": "x"}, {"light-step": "-1"}, {"light-painted": "nan"}, {"light": "2"}):
            reply = await client.frame(media.neutral_jpeg(data_dir), extra=headers)
            assert reply.error_code == 1018, headers
        assert (await client.frame(media.neutral_jpeg(data_dir))).command is Command.STATS  # still usable
    async with LPClient(stack.ws_url) as client:
        await client.connect()  # a client that never said light:1 cannot tag
        assert (await client.frame(media.neutral_jpeg(data_dir), extra={"light-step": "1"})).error_code == 1018
