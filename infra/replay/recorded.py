"""What was recorded of a session: its frames (the frames stream while retained, else the
FileLogger's files), the answers it got (the decisions stream, else the FileLogger's
answers.jsonl) and the plugins' verdicts (its plugin-results stream, while it lives)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from shared.bus import entries
from shared.keys import Keys
from shared.messages import FrameMessage, ImageType, PluginResult, ReplyMessage, decode
from shared.stored import AnswerLine, from_json_line

SUFFIXES = {".jpg": ImageType.JPEG, ".png": ImageType.PNG}


@dataclass(frozen=True)
class Answer:
    """A recorded or replayed answer to one frame."""

    frame_no: int
    kind: str  # stats, success, error
    codes: tuple[int, ...]
    end: str | None
    liveness: float | None = None  # development mode replies only
    yaw: float | None = None

    @staticmethod
    def of(reply: ReplyMessage) -> Answer:
        report = reply.estimations
        codes = tuple(int(c) for c in reply.errors) or ((int(reply.error),) if reply.error else ())
        return Answer(reply.frame_no, reply.kind.value, codes, reply.end.value if reply.end else None,
                      report.liveness.score if report and report.liveness else None,
                      report.head_pose.yaw if report and report.head_pose else None)


@dataclass
class Recording:
    session_id: str
    frames: list[FrameMessage]
    answers: dict[int, Answer]
    plugin_results: list[PluginResult] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # what came from where


async def _entries(redis: Redis, stream: str, first: str = "-", last: str = "+") -> list[dict[bytes, bytes]]:
    return [fields async for _, fields in entries(redis, stream, first=first, last=last)]


async def load(redis: Redis, keys: Keys, session_id: str, files: Path | None) -> Recording:
    recording = Recording(session_id, [], {})
    frames = [decode(FrameMessage, f) for f in await _entries(redis, keys.frames)]
    recording.frames = sorted((f for f in frames if f.session_id == session_id), key=lambda f: f.frame_no)
    recording.sources["frames"] = keys.frames
    folder = files / session_id if files is not None else None
    if not recording.frames and folder is not None and folder.is_dir():
        recording.frames = frames_from_files(session_id, folder)
        recording.sources["frames"] = str(folder)
    replies = [decode(ReplyMessage, f) for f in await _entries(redis, keys.decisions)]
    recording.answers = {r.frame_no: Answer.of(r) for r in replies if r.session_id == session_id}
    recording.sources["answers"] = keys.decisions
    if not recording.answers and folder is not None and (folder / "answers.jsonl").is_file():
        recording.answers = answers_from_file(folder / "answers.jsonl")
        recording.sources["answers"] = str(folder / "answers.jsonl")
    recording.plugin_results = [decode(PluginResult, f)
                                for f in await _entries(redis, keys.plugin_results(session_id))]
    if recording.plugin_results:
        recording.sources["plugins"] = keys.plugin_results(session_id)
    return recording


async def load_range(redis: Redis, keys: Keys, first: str, last: str) -> list[Recording]:
    """Every session with frames in ``[first, last]`` of the frames stream (entry ids, or - / +),
    with those frames only and the answers they got: for debugging the services on a stretch of
    traffic rather than one session."""
    frames = [decode(FrameMessage, f) for f in await _entries(redis, keys.frames, first, last)]
    sessions = sorted({f.session_id for f in frames})
    replies = [decode(ReplyMessage, f) for f in await _entries(redis, keys.decisions)]
    recordings = []
    for session_id in sessions:
        mine = sorted((f for f in frames if f.session_id == session_id), key=lambda f: f.frame_no)
        numbers = {f.frame_no for f in mine}
        answers = {r.frame_no: Answer.of(r) for r in replies if r.session_id == session_id and r.frame_no in numbers}
        plugins = [decode(PluginResult, f) for f in await _entries(redis, keys.plugin_results(session_id))]
        recordings.append(Recording(session_id, mine, answers, plugins,
                                    {"frames": f"{keys.frames} [{first}, {last}]", "answers": keys.decisions}))
    return recordings


def frames_from_files(session_id: str, folder: Path) -> list[FrameMessage]:
    """The FileLogger's ``{frame:05d}.jpg|png`` files; the receive time is the file's mtime (the
    logger writes a frame shortly after the ingress received it)."""
    from PIL import Image

    frames = []
    for path in sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.stem.isdigit()):
        data = path.read_bytes()
        with Image.open(path) as image:
            width, height = image.size
        frames.append(FrameMessage(session_id=session_id, request_id=f"replay-{path.stem}", frame_no=int(path.stem),
                                   received_at=path.stat().st_mtime, content_type=SUFFIXES[path.suffix],
                                   image=data, width=width, height=height))
    return frames


def answers_from_file(path: Path) -> dict[int, Answer]:
    answers = {}
    for line in path.read_text().splitlines():
        item = from_json_line(AnswerLine, line)
        codes = item.codes or ((item.error,) if item.error else ())
        answers[item.frame] = Answer(item.frame, item.kind, codes, item.end.value if item.end else None)
    return answers
