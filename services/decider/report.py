"""The estimations a reply or the JWT carries. The person sees, in production, only the face
geometry and the challenge progress; scores go to the development page and to the JWT."""

from __future__ import annotations

from services.decider.checks import CheckResult, eyes_ok
from shared.messages import (
    ChallengeProgress,
    EstimationMessage,
    Estimations,
    EyesReport,
    EyeState,
    FaceAnalysis,
    FaceFramePosition,
    ImageQuality,
    ImageQualityReport,
    LightInstruction,
    Mouth,
    MouthReport,
    PixelRect,
    Rect,
    ScoreReport,
)
from shared.settings import Settings, ThresholdSettings
from shared.thresholds import below


def estimations(estimation: EstimationMessage, checks: CheckResult, settings: Settings, *, full: bool,
                progress: tuple[int, int] | None = None, light: LightInstruction | None = None) -> Estimations:
    position = None
    if checks.face is not None:
        position = face_frame_position(checks.face.box, estimation.frame_width, estimation.frame_height)
    challenge = ChallengeProgress(done=progress[0], total=progress[1]) if progress else None
    if not full:
        return Estimations(face_count=len(estimation.faces), face_frame_position=position,
                           active_liveness=challenge, light_challenge=light)
    analysis = estimation.analysis or FaceAnalysis()
    limits = settings.thresholds
    return Estimations(
        face_count=len(estimation.faces),
        face_frame_position=position,
        detection_score=checks.face.score if checks.face else None,
        ags=analysis.ags,
        image_quality=quality_report(analysis.image_quality, limits) if analysis.image_quality else None,
        head_pose=analysis.head_pose,
        eyes=EyesReport(
            left=analysis.eyes.left, right=analysis.eyes.right,
            state=EyeState.OPEN if eyes_ok(analysis.eyes, settings.session.accept_one_eye_open) else EyeState.CLOSED,
        ) if analysis.eyes else None,
        mouth=mouth_report(analysis.mouth, limits) if analysis.mouth else None,
        eyeglasses=analysis.eyeglasses,
        liveness=ScoreReport(score=analysis.liveness.score, source=analysis.liveness.source)
        if analysis.liveness else None,
        deepfake=ScoreReport(
            score=analysis.deepfake.score, source=analysis.deepfake.source,
            state="fake" if below(analysis.deepfake.score, limits.deepfake) else "real",
        ) if analysis.deepfake else None,
        image_modification=ScoreReport(score=analysis.image_modification.score,
                                       source=analysis.image_modification.source)
        if analysis.image_modification else None,
        active_liveness=challenge,
        light_challenge=light,
    )


def quality_report(quality: ImageQuality, limits: ThresholdSettings) -> ImageQualityReport:
    return ImageQualityReport(
        blur=quality.blur, is_blurred=below(quality.blur, limits.blur),
        light=quality.light, is_highlighted=below(quality.light, limits.light),
        darkness=quality.darkness, is_dark=below(quality.darkness, limits.dark),
        illumination=quality.illumination, is_illuminated=below(quality.illumination, limits.illumination),
        specularity=quality.specularity, is_specular=below(quality.specularity, limits.specularity),
    )


def mouth_report(mouth: Mouth, limits: ThresholdSettings) -> MouthReport:
    threshold = limits.mouth if limits.mouth is not None else 0.5
    state = "occluded" if mouth.occluded > threshold else "opened" if mouth.opened > threshold else (
        "smile" if mouth.smile > threshold else "closed")
    return MouthReport(opened=mouth.opened, smile=mouth.smile, occluded=mouth.occluded, state=state)


def face_frame_position(box: Rect, frame_width: int, frame_height: int) -> FaceFramePosition:
    face = PixelRect(x=round(box.x), y=round(box.y), width=round(box.width), height=round(box.height))
    return FaceFramePosition(
        face_rect=face,
        frame_rect=PixelRect(x=0, y=0, width=frame_width, height=frame_height),
        margins=(face.y, frame_width - face.x - face.width, frame_height - face.y - face.height, face.x),
    )
