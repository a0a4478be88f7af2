"""Message codec: round trips, and one error type carrying the raw bytes for anything else."""

from __future__ import annotations

import msgpack
import pytest

from shared.audit import WindowFrame
from shared.errors import FrameCheck, MessageDecodeError
from shared.evidence import EvidenceKind
from shared.messages import (
    ENTRY_FIELD,
    EstimationMessage,
    Estimations,
    Face,
    FaceAnalysis,
    FrameMessage,
    ImageType,
    Rect,
    ReplyKind,
    ReplyMessage,
    decode,
    encode,
)
from shared.settings import EstimatorSettings, ThresholdSettings
from shared.stages import Stage

FACE = Face(box=Rect(x=1, y=2, width=30, height=40), keypoints=((1, 1), (2, 2), (3, 3), (4, 4), (5, 5)), score=0.9)


def test_frame_round_trip_keeps_bytes() -> None:
    frame = FrameMessage(session_id="s", request_id="r", frame_no=3, received_at=1.5, content_type=ImageType.JPEG,
                         image=b"\xff\xd8\xff\x00", width=640, height=480)
    assert decode(FrameMessage, encode(frame)) == frame


def test_estimation_and_reply_round_trip() -> None:
    estimation = EstimationMessage(session_id="s", request_id="r", frame_no=1, frame_width=640, frame_height=480,
                                   faces=(FACE,), main_face=0, timings={"detect": 3.2})
    assert decode(EstimationMessage, encode(estimation)) == estimation
    reply = ReplyMessage(session_id="s", request_id="r", frame_no=1, kind=ReplyKind.STATS,
                         errors=(FrameCheck.NO_FACE,))
    decoded = decode(ReplyMessage, encode(reply))
    assert decoded == reply
    assert decoded.errors[0] is FrameCheck.NO_FACE


def test_messages_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        FACE.score = 0.1  # type: ignore[misc]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1garbage",
        msgpack.packb([1, 2, 3]),
        msgpack.packb({"t": "reply", "v": 1, "session_id": "s"}),
        msgpack.packb({"t": "frame", "v": 1, "session_id": "s"}),
        msgpack.packb({"t": "reply", "v": 99, "session_id": "s", "request_id": "r", "frame_no": 1, "kind": "STATS"}),
        msgpack.packb({"t": "reply", "v": 1, "session_id": "s", "request_id": "r", "frame_no": 1, "kind": "NOPE"}),
    ],
)
def test_bad_entries_raise_one_error_with_raw_bytes(raw: bytes) -> None:
    with pytest.raises(MessageDecodeError) as caught:
        decode(ReplyMessage, {ENTRY_FIELD: raw})
    assert caught.value.raw == raw



@pytest.mark.parametrize("kind", list(EvidenceKind))
def test_each_evidence_kind_names_its_fields_setting_and_stage(kind: EvidenceKind) -> None:
    for model in (FaceAnalysis, WindowFrame, ThresholdSettings):
        assert kind in model.model_fields, model
    assert f"{kind}_model" in EstimatorSettings.model_fields
    assert Stage(kind.value)  # timed under its own name
    report = Estimations.model_fields[kind]
    assert (report.alias or kind.value) == kind.alias  # the reply's key


def test_the_evidence_keys_of_replies_and_tokens_are_unchanged() -> None:
    assert [kind.alias for kind in EvidenceKind] == ["liveness", "deepfake", "imageModification"]
