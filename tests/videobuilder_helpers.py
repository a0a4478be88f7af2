"""Real frames, sessions on the bus and decoded results for the video builder's tests."""

from __future__ import annotations

import io
import random
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import anyio
import av
from PIL import Image
from redis.asyncio import Redis

from services.videobuilder.main import compose
from shared.bus import publish
from shared.keys import Keys
from shared.messages import FrameMessage, ImageType, SessionEvent, SessionOutcome, VideoMessage, decode
from shared.settings import Settings

SOURCE_VIDEO = Path("pad_replay_tranvanluyt") / "videos__real.mp4"
MAX_GAP_S = 0.12


def load_images(data_dir: Path, count: int, size: tuple[int, int] = (640, 480)) -> list[Image.Image]:
    """``count`` frames of a real selfie video (every other one, so the face moves), resized."""
    images: list[Image.Image] = []
    with av.open(str(data_dir / SOURCE_VIDEO)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 2 == 0:
                images.append(Image.fromarray(frame.to_ndarray(format="rgb24")).resize(size))
            if len(images) == count:
                break
    return images


def to_bytes(image: Image.Image, kind: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **({"quality": 85} if kind == "JPEG" else {}))
    return buffer.getvalue()


def irregular_times(count: int, *, end: float | None = None, seed: int = 7) -> list[float]:
    """Arrival times 40-120 ms apart (a browser sends unevenly), the last one at ``end`` (now)."""
    rng = random.Random(seed)
    gaps = [rng.uniform(0.04, MAX_GAP_S) for _ in range(count - 1)]
    last = time.time() if end is None else end
    times = [last - sum(gaps)]
    for gap in gaps:
        times.append(times[-1] + gap)
    return times


def new_session() -> str:
    return str(uuid.uuid4())


async def publish_frames(
    redis: Redis, keys: Keys, session_id: str, images: Sequence[bytes], times: Sequence[float], *,
    first_no: int = 1, content_type: ImageType = ImageType.JPEG, size: tuple[int, int] = (640, 480),
) -> None:
    for offset, (image, at) in enumerate(zip(images, times, strict=True)):
        frame = FrameMessage(
            session_id=session_id, request_id=uuid.uuid4().hex, frame_no=first_no + offset, received_at=at,
            content_type=content_type, image=image, width=size[0], height=size[1],
        )
        await publish(redis, keys.frames, frame, maxlen=10_000)


async def publish_event(
    redis: Redis, keys: Keys, session_id: str, outcome: SessionOutcome, *, at: float, frames: int,
    jwt_id: str | None = None,
) -> str:
    event = SessionEvent(session_id=session_id, outcome=outcome, at=at, frames=frames, jwt_id=jwt_id)
    return await publish(redis, keys.session_events, event, maxlen=10_000)


async def drain(redis: Redis, settings: Settings, *, name: str = "builder-a", timeout: float = 40) -> None:
    """Run one builder until both streams are read and no video is waiting."""
    with anyio.fail_after(timeout):
        await compose(redis, settings, name=name, poll_s=0.05).run(drain=True)


async def task_fields(redis: Redis, keys: Keys, session_id: str) -> dict[str, str]:
    raw = await cast("Awaitable[dict[bytes, bytes]]", redis.hgetall(keys.video_task(session_id)))
    return {key.decode(): value.decode() for key, value in raw.items()}


async def videos(redis: Redis, keys: Keys) -> list[VideoMessage]:
    return [decode(VideoMessage, fields) for _, fields in await redis.xrange(keys.videos)]


def with_video(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"video": settings.video.model_copy(update=changes)})


@dataclass(frozen=True, slots=True)
class Probe:
    codec: str
    container: str
    frames: int
    width: int
    height: int
    duration_s: float
    last_frame_s: float


def probe(path: Path) -> Probe:
    """Decode the whole file back: what a player would show."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [frame.time for frame in container.decode(stream) if frame.time is not None]
        return Probe(
            codec=stream.codec_context.name, container=container.format.name, frames=len(times),
            width=stream.width, height=stream.height, duration_s=(container.duration or 0) / 1e6,
            last_frame_s=times[-1] - times[0] if times else 0.0,
        )


recorded: list[VideoMessage] = []


def recording_hook(video: VideoMessage) -> None:
    recorded.append(video)


def failing_hook(video: VideoMessage) -> None:
    raise RuntimeError(f"hook failed on purpose for {video.session_id}")
