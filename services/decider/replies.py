"""Building the reply for a checked frame: what the person (and, in development, the
integrator) sees. Production replies carry only error codes and the face geometry."""

from __future__ import annotations

from services.decider.checks import CheckResult, below
from shared.errors import SystemCode
from shared.messages import (
    EstimationMessage,
    Estimations,
    FaceFramePosition,
    ImageQuality,
    ImageQualityReport,
    PixelRect,
    Rect,
    ReplyKind,
    ReplyMessage,
)
from shared.settings import Env, Settings, ThresholdSettings


def error_reply(estimation: EstimationMessage, code: SystemCode) -> ReplyMessage:
    return ReplyMessage(
        session_id=estimation.session_id, request_id=estimation.request_id, frame_no=estimation.frame_no,
        kind=ReplyKind.ERROR, error=code,
    )


def stats_reply(estimation: EstimationMessage, result: CheckResult, settings: Settings) -> ReplyMessage:
    position = None
    if result.face is not None:
        position = face_frame_position(result.face.box, estimation.frame_width, estimation.frame_height)
    # Production shows the person only codes and the face geometry, never scores.
    development = settings.env is Env.DEVELOPMENT
    analysis = estimation.analysis if development else None
    estimations = Estimations(
        face_count=len(estimation.faces),
        face_frame_position=position,
        detection_score=result.face.score if development and result.face else None,
        image_quality=quality_report(analysis.image_quality, settings.thresholds)
        if analysis and analysis.image_quality else None,
        head_pose=analysis.head_pose if analysis else None,
    )
    return ReplyMessage(
        session_id=estimation.session_id, request_id=estimation.request_id, frame_no=estimation.frame_no,
        kind=ReplyKind.STATS, errors=result.errors, estimations=estimations,
    )


def quality_report(quality: ImageQuality, limits: ThresholdSettings) -> ImageQualityReport:
    return ImageQualityReport(
        blur=quality.blur, is_blurred=below(quality.blur, limits.blur),
        light=quality.light, is_highlighted=below(quality.light, limits.light),
        darkness=quality.darkness, is_dark=below(quality.darkness, limits.dark),
        illumination=quality.illumination, is_illuminated=below(quality.illumination, limits.illumination),
        specularity=quality.specularity, is_specular=below(quality.specularity, limits.specularity),
    )


def face_frame_position(box: Rect, frame_width: int, frame_height: int) -> FaceFramePosition:
    face = PixelRect(x=round(box.x), y=round(box.y), width=round(box.width), height=round(box.height))
    return FaceFramePosition(
        face_rect=face,
        frame_rect=PixelRect(x=0, y=0, width=frame_width, height=frame_height),
        margins=(face.y, frame_width - face.x - face.width, frame_height - face.y - face.height, face.x),
    )
