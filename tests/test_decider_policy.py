"""The session policy as a pure function: checks, aggregation, limits, plugins, fake marks."""

from __future__ import annotations

from collections.abc import Mapping

from services.decider.policy import Decision, decide
from services.decider.state import AuditKind, SessionState, apply
from shared.errors import FrameCheck
from shared.messages import (
    EstimationMessage,
    EvidenceScore,
    Eyes,
    EyeState,
    Face,
    FaceAnalysis,
    HeadPose,
    ImageQuality,
    PluginResult,
    PluginVerdict,
    Rect,
    SessionEnd,
)
from shared.plugins import FACE_MATCHER
from shared.settings import Env, Settings

GOOD_QUALITY = ImageQuality(blur=0.9, light=0.9, darkness=0.9, illumination=0.9, specularity=0.9)
FACE = Face(box=Rect(x=200, y=100, width=200, height=260), keypoints=((250, 200),) * 5, score=0.95)


def settings(**session: object) -> Settings:
    return Settings(env=Env.DEVELOPMENT, session={"aggregate_frames": 3, **session},
                    active_liveness={"is_enabled": False}, virtual_camera_checker={"is_enabled": False})


def frame(n: int, *, liveness: float | None = 0.9, eyes_closed: bool = False, dark: bool = False,
          faces: tuple[Face, ...] = (FACE,)) -> EstimationMessage:
    quality = GOOD_QUALITY.model_copy(update={"darkness": 0.1}) if dark else GOOD_QUALITY
    state = EyeState.CLOSED if eyes_closed else EyeState.OPEN
    analysis = FaceAnalysis(
        image_quality=quality, eyes=Eyes(left=state, right=state, left_openness=0.3, right_openness=0.3),
        liveness=EvidenceScore(score=liveness, source="test") if liveness is not None else None,
    )
    return EstimationMessage(session_id="s", request_id=f"r{n}", frame_no=n, frame_width=640, frame_height=480,
                             faces=faces, main_face=0 if faces else None, analysis=analysis)


def run(frames: list[EstimationMessage], config: Settings,
        plugins: Mapping[str, PluginResult | None] | None = None,
        state: SessionState | None = None) -> tuple[list[Decision], SessionState]:
    state = state or SessionState(session_id="s")
    decisions = []
    for estimation in frames:
        decision = decide(state, estimation, plugins or {}, config, now=1.0, jwt_id="j")
        for event in decision.events:
            state = apply(state, event, config.session.aggregate_frames)
        decisions.append(decision)
    return decisions, state


def test_success_after_a_full_window_of_good_frames() -> None:
    decisions, state = run([frame(n) for n in range(1, 4)], settings())
    assert [d.end for d in decisions] == [None, None, SessionEnd.SUCCESS]
    assert decisions[0].codes == ()
    assert state.end is SessionEnd.SUCCESS
    assert state.jwt_id == "j"
    assert state.best_frame_no == 1


def test_a_failing_gate_keeps_the_frame_out_of_the_window() -> None:
    decisions, state = run([frame(1), frame(2, dark=True), frame(3), frame(4)], settings())
    assert decisions[1].codes == (FrameCheck.DARK,)
    assert [d.end for d in decisions] == [None, None, None, SessionEnd.SUCCESS]
    assert state.liveness_attempts == 3


def test_one_blink_does_not_undo_the_session_but_closed_eyes_do() -> None:
    blink, _ = run([frame(1), frame(2, eyes_closed=True), frame(3)], settings())
    assert blink[1].codes == (FrameCheck.EYES_CLOSED,)
    assert blink[2].end is SessionEnd.SUCCESS
    closed, _ = run([frame(n, eyes_closed=True) for n in range(1, 4)], settings())
    assert FrameCheck.EYES_CLOSED in closed[2].codes
    assert closed[2].end is None


def test_liveness_is_required_and_aggregated() -> None:
    missing, _ = run([frame(n, liveness=None) for n in range(1, 4)], settings())
    assert FrameCheck.LIVENESS_FAILED in missing[2].codes
    assert missing[2].end is None
    low, _ = run([frame(1, liveness=0.9), frame(2, liveness=0.1), frame(3, liveness=0.2)], settings())
    assert FrameCheck.LIVENESS_FAILED in low[2].codes
    disabled = settings()
    disabled = disabled.model_copy(update={"thresholds": disabled.thresholds.model_copy(update={"liveness": None})})
    passes, _ = run([frame(n, liveness=None) for n in range(1, 4)], disabled)
    assert passes[2].end is SessionEnd.SUCCESS


def test_max_attempts_ends_the_session_on_the_last_allowed_frame() -> None:
    decisions, _ = run([frame(n, dark=True) for n in range(1, 4)], settings(max_attempts=3))
    assert [d.end for d in decisions] == [None, None, SessionEnd.MAX_ATTEMPTS]
    assert decisions[2].codes == (FrameCheck.DARK,)


def test_max_liveness_attempts_counts_frames_that_reached_liveness() -> None:
    frames = [frame(n, liveness=0.1) for n in range(1, 5)]
    decisions, _ = run(frames, settings(max_liveness_attempts=2, aggregate_frames=3))
    assert decisions[1].end is SessionEnd.MAX_LIVENESS_ATTEMPTS


def plugin(verdict: PluginVerdict, *codes: FrameCheck, fake: bool = False) -> PluginResult:
    return PluginResult(session_id="s", request_id="r", frame_no=1, plugin="p", verdict=verdict, codes=codes,
                        mark_fake=fake, progress=(1, 2))


def test_plugins_pending_or_missing_block_success() -> None:
    pending, _ = run([frame(n) for n in range(1, 4)], settings(),
                     {"p": plugin(PluginVerdict.PENDING, FrameCheck.ACTION_BLINK)})
    assert pending[2].end is None
    assert pending[2].codes == (FrameCheck.ACTION_BLINK,)
    assert pending[2].progress == (1, 2)
    missing, _ = run([frame(n) for n in range(1, 4)], settings(), {"p": None})
    assert missing[2].end is None


def test_face_change_ends_and_a_fake_mark_sticks() -> None:
    changed, _ = run([frame(1)], settings(), {"p": plugin(PluginVerdict.END, FrameCheck.FACE_CHANGED)})
    assert changed[0].end is SessionEnd.FACE_CHANGED
    faked, state = run([frame(1)], settings(), {"p": plugin(PluginVerdict.END, fake=True)})
    assert faked[0].end is SessionEnd.MARKED_FAKE
    assert state.marked_fake
    later, _ = run([frame(n) for n in range(2, 6)], settings(), state=state)
    assert all(d.codes == (FrameCheck.SESSION_MARKED_FAKE,) for d in later)
    assert all(d.end is SessionEnd.MARKED_FAKE for d in later)


def test_no_face_and_best_shot_rules() -> None:
    decisions, state = run([frame(1, faces=()), frame(2, eyes_closed=True), frame(3)], settings())
    assert decisions[0].codes == (FrameCheck.NO_FACE,)
    assert state.best_frame_no == 3  # the closed-eyes frame never becomes the best shot
    assert [e.kind for e in decisions[2].events] == [AuditKind.FRAME, AuditKind.BESTSHOT]


def test_with_the_face_matcher_on_a_frontal_frame_is_the_best_shot_only_if_compared() -> None:
    def described(n: int, yaw: float, descriptor: bool) -> EstimationMessage:
        estimation = frame(n)
        assert estimation.analysis is not None
        analysis = estimation.analysis.model_copy(update={
            "head_pose": HeadPose(yaw=yaw, pitch=0, roll=0), "descriptor": (1.0,) * 128 if descriptor else None,
            "ags": 0.5 + 0.1 * n})  # each frame a better shot than the one before
        return estimation.model_copy(update={"analysis": analysis})

    passing = {FACE_MATCHER: PluginResult(session_id="s", request_id="r", frame_no=1, plugin=FACE_MATCHER,
                                          verdict=PluginVerdict.PASS)}
    # frame 2 frontal without a descriptor (not due): never the best shot; frame 3 turned: as before
    _, state = run([described(1, 2, True), described(2, 0, False)], settings(), passing)
    assert state.best_frame_no == 1
    _, state = run([described(1, 2, False), described(2, 20, False)], settings(), passing)
    assert state.best_frame_no == 2
    _, state = run([described(1, 2, True), described(2, 0, False)], settings())  # the FaceMatcher off
    assert state.best_frame_no == 2
    # No best shot yet, no success: the session waits for a compared frame (aggregate_frames is 3).
    decisions, state = run([described(n, 0, n == 4) for n in range(1, 5)], settings(), passing)
    assert [d.end for d in decisions] == [None, None, None, SessionEnd.SUCCESS]
    assert state.best_frame_no == 4
