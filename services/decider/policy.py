"""The session policy: given the state, a frame's estimations and its plugin results, what
happens (docs/decider.md). Pure: the same inputs give the same events and answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.decider.aggregate import aggregate_failures, window_frame
from services.decider.checks import CheckResult, run_checks
from services.decider.state import AuditEvent, AuditKind, SessionState, WindowFrame
from shared.errors import FrameCheck
from shared.messages import Defence, EstimationMessage, LightInstruction, PluginResult, PluginVerdict, SessionEnd
from shared.plugins import FACE_MATCHER, face_matcher_compares
from shared.settings import Settings


@dataclass
class Decision:
    checks: CheckResult
    codes: tuple[FrameCheck, ...]
    events: list[AuditEvent] = field(default_factory=list)
    end: SessionEnd | None = None
    progress: tuple[int, int] | None = None
    light: LightInstruction | None = None  # the light step the page paints now
    defences: tuple[Defence, ...] = ()  # the active defences passed (on success: the JWT's claim)

    @property
    def success(self) -> bool:
        return self.end is SessionEnd.SUCCESS


def decide(
    state: SessionState, estimation: EstimationMessage, plugins: Mapping[str, PluginResult | None],
    settings: Settings, *, now: float, jwt_id: str,
) -> Decision:
    checks = run_checks(estimation, settings)

    def event(kind: AuditKind, **fields: object) -> AuditEvent:
        return AuditEvent(session_id=state.session_id, frame_no=estimation.frame_no, at=now, kind=kind,
                          **fields)

    if state.marked_fake or state.end is not None:
        # A session marked fake (or already over) stays so: reconnecting cannot make it pass.
        codes = (FrameCheck.SESSION_MARKED_FAKE,) if state.marked_fake else checks.errors
        decision = Decision(checks, codes, end=SessionEnd.MARKED_FAKE if state.marked_fake else state.end)
        decision.events.append(event(AuditKind.FRAME, codes=codes, image_sha256=estimation.image_sha256))
        return decision

    plugin_codes: list[FrameCheck] = []
    plugins_pass, end, fake, progress, light = True, None, False, None, None
    for result in plugins.values():
        if result is None or result.verdict is not PluginVerdict.PASS:
            plugins_pass = False
        if result is None:
            continue
        plugin_codes += result.codes
        progress = result.progress or progress
        light = result.light or light
        if result.verdict is PluginVerdict.END:
            end = SessionEnd.FACE_CHANGED if FrameCheck.FACE_CHANGED in result.codes else SessionEnd.PLUGIN
            fake = fake or result.mark_fake

    entered: WindowFrame | None = window_frame(estimation, checks) if checks.face and not checks.gate else None
    window = (*state.window, entered)[-settings.session.aggregate_frames:] if entered else state.window
    aggregate = aggregate_failures(window, settings) if entered else []
    full = len(window) >= settings.session.aggregate_frames
    codes = tuple(dict.fromkeys([*checks.errors, *aggregate, *plugin_codes]))
    defences = tuple(sorted({r.defence for r in plugins.values() if r is not None and r.defence is not None}))
    decision = Decision(checks, codes, progress=progress, light=light, defences=defences)
    measuring = light is not None
    decision.events.append(event(
        AuditKind.FRAME, codes=codes, window_frame=entered, measuring=measuring, image_sha256=estimation.image_sha256,
        plugins={name: (r.verdict.value if r else "missing") for name, r in plugins.items()},
    ))
    # A frame lit by a coloured light step is never the best shot: the relying party gets a natural picture.
    coloured = estimation.client is not None and estimation.client.light_step not in (None, 0)
    # With the FaceMatcher on, a near-frontal frame becomes the best shot only if its face was compared:
    # the estimator describes one frame in estimator.descriptor_every, and the token's picture must
    # not be a face shown between two compared frames. (Turned frames are never compared, as before.)
    analysis = estimation.analysis
    uncompared = (FACE_MATCHER in plugins and analysis is not None and analysis.descriptor is None
                  and face_matcher_compares(analysis.head_pose))
    if entered and not coloured and not uncompared and entered.shot_score >= 0 and (state.best_shot_score is None
                                                                 or entered.shot_score > state.best_shot_score):
        decision.events.append(event(AuditKind.BESTSHOT, shot_score=entered.shot_score))
    if fake:
        decision.events.append(event(AuditKind.MARKED_FAKE, reason=",".join(map(str, plugin_codes))))

    limits = settings.session
    # The token carries the best shot: without one yet (every candidate so far had its eyes closed or
    # was not compared), the session goes on collecting frames instead of succeeding.
    has_shot = state.best_shot_score is not None or any(e.kind is AuditKind.BESTSHOT for e in decision.events)
    if entered and full and not codes and plugins_pass and end is None and has_shot:
        end = SessionEnd.SUCCESS
    elif (end is None and not measuring and limits.max_attempts is not None
          and state.attempts + 1 >= limits.max_attempts):
        end = SessionEnd.MAX_ATTEMPTS
    elif (end is None and entered and not measuring and limits.max_liveness_attempts is not None
          and state.liveness_attempts + 1 >= limits.max_liveness_attempts):
        end = SessionEnd.MAX_LIVENESS_ATTEMPTS
    if fake and end is not SessionEnd.FACE_CHANGED:
        end = SessionEnd.MARKED_FAKE
    if end is not None:
        decision.end = end
        decision.events.append(event(AuditKind.ENDED, end=end,
                                     jwt_id=jwt_id if end is SessionEnd.SUCCESS else None))
    return decision
