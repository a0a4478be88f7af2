"""The plugins: ActiveLiveness's state machine, the VirtualCameraChecker's evidence, the
FaceMatcher's decisions, and a third-party plugin discovered through an entry point."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import anyio
import pytest
from pydantic import BaseModel
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.redis_server import RedisServer
from services.plugins.builtins.active_liveness import ActiveLiveness, ChallengeMemory
from services.plugins.builtins.face_matcher import FaceMatcher, similarity
from services.plugins.builtins.virtual_camera import VirtualCameraChecker
from services.plugins.memory import FrameMemories
from shared.errors import FrameCheck
from shared.keys import Keys
from shared.lpproto import Command
from shared.messages import (
    ClientInfo,
    EstimationMessage,
    Eyes,
    EyeState,
    FaceAnalysis,
    HeadPose,
    PluginVerdict,
)
from shared.plugin_protocol import StateT
from shared.settings import Env, Interaction, Settings
from tests import media
from tests.plugin_support import install_plugin
from tests.stack import Stack


class Memory:
    def __init__(self) -> None:
        self.saved: BaseModel | None = None

    async def load(self, model: type[StateT]) -> StateT | None:
        return model.model_validate(self.saved.model_dump()) if self.saved is not None else None

    async def save(self, state: BaseModel) -> None:
        self.saved = state


def estimation(n: int, at: float, analysis: FaceAnalysis | None = None, client: ClientInfo | None = None,
               sha: str = "") -> EstimationMessage:
    return EstimationMessage(session_id="s", request_id=f"r{n}", frame_no=n, frame_width=640, frame_height=480,
                             received_at=at, analysis=analysis, client=client, image_sha256=sha or f"h{n}")


def eyes(closed: bool) -> FaceAnalysis:
    state = EyeState.CLOSED if closed else EyeState.OPEN
    return FaceAnalysis(eyes=Eyes(left=state, right=state, left_openness=0.1, right_openness=0.1))


def pose(yaw: float, parallax: float | None = 0.15) -> FaceAnalysis:
    return FaceAnalysis(head_pose=HeadPose(yaw=yaw, pitch=0, roll=0), parallax=parallax)


def liveness_settings(*interactions: Interaction, **extra: object) -> Settings:
    return Settings(env=Env.DEVELOPMENT, active_liveness={
        "interaction_list": interactions, "interaction_count": len(interactions), "interaction_order": "fixed",
        "cooldown_frames_count": 1, **extra})


@pytest.mark.anyio
async def test_blink_then_turn_passes_with_prompts_and_progress() -> None:
    plugin, memory = ActiveLiveness(liveness_settings(Interaction.BLINK, Interaction.YAW_LEFT)), Memory()
    frames = [eyes(False), eyes(True), eyes(False), pose(0), pose(25), pose(3), pose(0), pose(0)]
    verdicts = [await plugin.evaluate(estimation(n, n * 0.2, a), memory) for n, a in enumerate(frames, 1)]
    assert [v.codes for v in verdicts[:2]] == [(FrameCheck.ACTION_BLINK,)] * 2
    # Eyes open again: the blink is done and the next prompt comes with the same frame's answer.
    assert verdicts[2].codes == verdicts[3].codes == (FrameCheck.ACTION_YAW_LEFT,)
    assert verdicts[3].progress == (1, 2)
    assert [v.verdict for v in verdicts[5:]] == [PluginVerdict.PENDING, PluginVerdict.PASS, PluginVerdict.PASS]


@pytest.mark.anyio
async def test_a_flat_turn_without_parallax_does_not_count() -> None:
    plugin, memory = ActiveLiveness(liveness_settings(Interaction.YAW_LEFT)), Memory()
    for n, analysis in enumerate([pose(0), pose(40, parallax=0.05), pose(0), pose(0), pose(0)], 1):
        verdict = await plugin.evaluate(estimation(n, n * 0.2, analysis), memory)
    assert verdict.verdict is PluginVerdict.PENDING
    assert verdict.codes == (FrameCheck.ACTION_YAW_LEFT,)


@pytest.mark.anyio
async def test_the_wrong_direction_times_out_and_a_new_action_is_drawn() -> None:
    plugin = ActiveLiveness(liveness_settings(Interaction.YAW_LEFT, Interaction.BLINK, interaction_count=1,
                                              interaction_timeout_s=1.0))
    memory = Memory()
    for n, yaw in enumerate([0, -30, -30, 0], 1):  # turns right when asked to turn left
        await plugin.evaluate(estimation(n, n * 0.2, pose(yaw)), memory)
    late = await plugin.evaluate(estimation(9, 2.0, pose(-30)), memory)
    assert late.codes == (FrameCheck.ACTION_TIMED_OUT, FrameCheck.ACTION_BLINK)
    assert isinstance(memory.saved, ChallengeMemory)
    assert memory.saved.timeouts == 1


@pytest.mark.anyio
@pytest.mark.parametrize(("asked", "cap", "timed_out"), [
    (1.0, 2.0, True),   # no extra time: 1.5 s is past the 1 s action time
    (2.0, 2.0, False),  # twice the time: 2 s, not yet
    (3.0, 1.0, True),   # the operator allows none: asking changes nothing
])
async def test_a_person_who_asked_for_more_time_gets_it_up_to_the_operators_cap(
        asked: float, cap: float, timed_out: bool) -> None:
    plugin = ActiveLiveness(liveness_settings(Interaction.YAW_LEFT, Interaction.BLINK, interaction_count=1,
                                              interaction_timeout_s=1.0, max_time_scale=cap))
    memory, client = Memory(), ClientInfo(time_scale=asked)
    await plugin.evaluate(estimation(1, 0.0, pose(0), client), memory)
    later = await plugin.evaluate(estimation(2, 1.5, pose(0), client), memory)
    assert (FrameCheck.ACTION_TIMED_OUT in later.codes) is timed_out


def test_random_order_comes_from_the_secure_source() -> None:
    settings = Settings(env=Env.DEVELOPMENT, active_liveness={"interaction_count": 3})
    plugin = ActiveLiveness(settings)
    draws = {tuple(plugin.draw(3)) for _ in range(40)}
    assert len(draws) > 5
    assert all(len(set(d)) == 3 for d in draws)


@pytest.mark.anyio
async def test_virtual_camera_evidence_is_reported() -> None:
    settings = Settings(env=Env.DEVELOPMENT)
    checker, memory = VirtualCameraChecker(settings), Memory()
    obs = ClientInfo(camera_label="OBS Virtual Camera", camera_settings='{"frameRate": 240}')
    first = await checker.evaluate(estimation(1, 0, client=obs, sha="same"), memory)
    assert first.verdict is PluginVerdict.PASS  # evidence, not proof, unless configured otherwise
    assert first.details == {"virtual_label": 1.0, "implausible_settings": 1.0}
    assert first.announce is not None
    assert "OBS Virtual Camera" in first.announce
    again = await checker.evaluate(estimation(2, 0, client=obs, sha="same"), memory)
    assert again.details["repeated_frame"] == 1.0
    strict = VirtualCameraChecker(Settings(env=Env.DEVELOPMENT, virtual_camera_checker={"fail_on_detection": True}))
    failed = await strict.evaluate(estimation(1, 0, client=obs), Memory())
    assert (failed.verdict, failed.codes) == (PluginVerdict.FAIL, (FrameCheck.VIRTUAL_CAMERA,))


@pytest.mark.anyio
async def test_too_regular_frame_timing_is_noticed() -> None:
    checker, memory = VirtualCameraChecker(Settings(env=Env.DEVELOPMENT)), Memory()
    for n in range(8):
        verdict = await checker.evaluate(estimation(n, 0, client=ClientInfo(frame_time_ms=n * 33.333)), memory)
    assert verdict.details.get("perfect_timing") == 1.0
    jittery, memory = VirtualCameraChecker(Settings(env=Env.DEVELOPMENT)), Memory()
    for n, jitter in enumerate([0, 4, 1, 7, 2, 5, 0, 3]):
        verdict = await jittery.evaluate(estimation(n, 0, client=ClientInfo(frame_time_ms=n * 33 + jitter)), memory)
    assert "perfect_timing" not in verdict.details


def test_similarity_scale_puts_the_threshold_between_people() -> None:
    unit = [1.0] + [0.0] * 127
    assert similarity(unit, unit) > 0.99
    assert similarity(unit, [0.74, 0.6726] + [0.0] * 126) > 0.95  # cosine 0.74: one person, frontal frames
    assert similarity(unit, [0.30, 0.9539] + [0.0] * 126) < 0.4  # cosine 0.30: different people, highest seen


@pytest.mark.anyio
async def test_face_matcher_ends_on_a_different_face() -> None:
    matcher, memory = FaceMatcher(Settings(env=Env.DEVELOPMENT)), Memory()
    me, other = (1.0, *([0.0] * 127)), (0.0, 1.0, *([0.0] * 126))
    first = await matcher.evaluate(estimation(1, 0, FaceAnalysis(descriptor=me)), memory)
    same = await matcher.evaluate(estimation(2, 0, FaceAnalysis(descriptor=me)), memory)
    switched = await matcher.evaluate(estimation(3, 0, FaceAnalysis(descriptor=other)), memory)
    assert (first.verdict, same.verdict) == (PluginVerdict.PASS, PluginVerdict.PASS)
    assert (switched.verdict, switched.codes) == (PluginVerdict.END, (FrameCheck.FACE_CHANGED,))
    missing = await matcher.evaluate(estimation(4, 0, FaceAnalysis()), memory)
    assert missing.verdict is PluginVerdict.PENDING
    turned = FaceAnalysis(descriptor=other, head_pose=HeadPose(yaw=35, pitch=0, roll=0))
    assert (await matcher.evaluate(estimation(5, 0, turned), Memory())).verdict is PluginVerdict.PASS
    # The estimator describes no turned face: turned frames pass without one, frontal ones wait for one.
    undescribed = FaceAnalysis(head_pose=HeadPose(yaw=-30, pitch=0, roll=0))
    assert (await matcher.evaluate(estimation(6, 0, undescribed), Memory())).verdict is PluginVerdict.PASS
    frontal = FaceAnalysis(head_pose=HeadPose(yaw=5, pitch=-3, roll=0))
    assert (await matcher.evaluate(estimation(7, 0, frontal), Memory())).verdict is PluginVerdict.PENDING


THIRD_PARTY = '''
from shared.api import EstimationMessage, FrameCheck, PluginVerdict, SessionMemory, Verdict


class Veto:
    name = "veto"

    def __init__(self, settings: object) -> None:
        pass

    async def evaluate(self, estimation: EstimationMessage, memory: SessionMemory) -> Verdict:
        return Verdict(PluginVerdict.FAIL, codes=(FrameCheck.LIVENESS_FAILED,), details={"veto": 1.0})
'''


SLOW = '''
import anyio

from shared.api import EstimationMessage, SessionMemory, Verdict


class Sleepy:
    name = "sleepy"

    def __init__(self, settings: object) -> None:
        pass

    async def evaluate(self, estimation: EstimationMessage, memory: SessionMemory) -> Verdict:
        await anyio.sleep(60)  # a plugin stuck on a remote call
        raise AssertionError("plugins.timeout_ms should have stopped it")
'''


@pytest.fixture
def third_party_package(tmp_path: Path) -> Path:
    return install_plugin(tmp_path / "site", "veto_plugin", "veto", "Veto", THIRD_PARTY)


@pytest.mark.anyio
async def test_third_party_plugin_is_discovered_and_changes_the_decision(
    redis_server: RedisServer, tmp_path: Path, data_dir: Path, third_party_package: Path,
) -> None:
    import os

    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path / "logs",
                  VIGIL_PLUGINS__EXTRA='["veto"]', VIGIL_THRESHOLDS__LIVENESS="null",
                  VIGIL_SESSION__AGGREGATE_FRAMES="1",
                  PYTHONPATH=os.pathsep.join([str(third_party_package), os.environ.get("PYTHONPATH", "")]))
    try:
        stack.start_all("ingress", "estimator", "decider", "plugins")
        assert "plugins for tag default: veto" in stack.logs("plugins")
        async with LPClient(stack.ws_url) as client:
            await client.connect()
            reply = await client.frame(media.neutral_jpeg(data_dir))
        # Without the veto this frame would pass (aggregate_frames=1, liveness disabled).
        assert reply.command is Command.STATS
        assert FrameCheck.LIVENESS_FAILED in reply.stats()["errors"]
    finally:
        stack.stop()


@pytest.mark.anyio
async def test_without_the_veto_the_same_frame_passes(redis_server: RedisServer, tmp_path: Path,
                                                       data_dir: Path) -> None:
    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path / "logs",
                  VIGIL_THRESHOLDS__LIVENESS="null", VIGIL_SESSION__AGGREGATE_FRAMES="1")
    try:
        stack.start_all()
        async with LPClient(stack.ws_url) as client:
            await client.connect()
            reply = await client.frame(media.neutral_jpeg(data_dir))
            assert reply.command is Command.SUCCESS
            with pytest.raises(ConnectionClosed), anyio.fail_after(5):
                await client.receive()
    finally:
        stack.stop()


@pytest.mark.anyio
async def test_a_stuck_plugin_costs_its_timeout_not_the_session(
    redis_server: RedisServer, tmp_path: Path, data_dir: Path,
) -> None:
    """Fault test (issue 16): a third-party plugin that never returns. Every frame is still answered
    within plugins.timeout_ms and a little; with failure_policy "skip" the session succeeds, the
    timeout is logged, no process restarts."""
    import os

    site = install_plugin(tmp_path / "site", "sleepy_plugin", "sleepy", "Sleepy", SLOW)
    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path / "logs",
                  VIGIL_PLUGINS__EXTRA='["sleepy"]', VIGIL_PLUGINS__TIMEOUT_MS="400",
                  VIGIL_PLUGINS__FAILURE_POLICY="skip", VIGIL_THRESHOLDS__LIVENESS="null",
                  VIGIL_SESSION__AGGREGATE_FRAMES="1",
                  PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    try:
        stack.start_all("ingress", "estimator", "decider", "plugins")
        assert "sleepy" in stack.logs("plugins")
        async with LPClient(stack.ws_url) as client:
            await client.connect()
            started = time.monotonic()
            reply = await client.frame(media.neutral_jpeg(data_dir))
            took = time.monotonic() - started
        assert reply.command is Command.SUCCESS
        assert took < 5, took  # 0.4 s of plugin timeout, not the plugin's 60 s
        assert "plugin sleepy timed out" in stack.logs("plugins")
        assert all(process.poll() is None for _, process in stack.processes)
    finally:
        stack.stop()


class Counted(BaseModel):
    n: int


@pytest.mark.anyio
async def test_a_frames_plugin_memories_are_read_and_written_together(redis: Redis, keys: Keys) -> None:
    """FrameMemories (the runner's): states read in one MGET and saved in one pipeline, a plugin
    seeing its own save within the frame, nothing written for a plugin that saved nothing."""
    first = FrameMemories(redis, keys, "s1", 60)
    await first.load(["counter", "quiet"])
    assert await first.of("counter").load(Counted) is None
    await first.of("counter").save(Counted(n=1))
    assert await first.of("counter").load(Counted) == Counted(n=1)
    assert await redis.get(keys.plugin_state("counter", "s1")) is None  # not before the flush
    await first.flush()
    assert 0 < await redis.ttl(keys.plugin_state("counter", "s1")) <= 60
    assert await redis.exists(keys.plugin_state("quiet", "s1")) == 0
    following = FrameMemories(redis, keys, "s1", 60)
    await following.load(["counter", "quiet"])
    assert await following.of("counter").load(Counted) == Counted(n=1)
    with pytest.raises(KeyError):
        following.of("never-loaded")  # its state would look absent: refused instead
