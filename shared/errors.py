"""The error-code catalogue and the one exception tree.

Two families of stable numeric codes (documented in docs/protocol.md; never renumber):

* ``FrameCheck``: why a frame did not pass; sent in a STATS reply's ``errors`` list so the page
  can prompt the person. Ordered roughly as the checks run.
* ``SystemCode``: why a request could not be processed at all; sent as ``ERROR`` with header
  ``error:<code>``.

Services raise ``VigilError`` subclasses carrying a ``SystemCode``; only the ingress turns them
into LPProto replies and WebSocket close codes (services/ingress/replies.py).
"""

from __future__ import annotations

from enum import IntEnum


class FrameCheck(IntEnum):
    NO_FACE = 1
    MULTIPLE_FACES = 2
    FACE_OUTSIDE_ROI = 3
    # Image quality
    BLURRED = 10
    HIGHLIGHTED = 11
    DARK = 12
    UNEVEN_ILLUMINATION = 13
    SPECULAR = 14
    # Size and position
    FACE_TOO_CLOSE_TO_LEFT = 20
    FACE_TOO_CLOSE_TO_TOP = 21
    FACE_TOO_CLOSE_TO_RIGHT = 22
    FACE_TOO_CLOSE_TO_BOTTOM = 23
    FRAME_TOO_SMALL = 24
    FACE_TOO_SMALL = 25
    # Head pose
    YAW_TOO_LARGE = 30
    PITCH_TOO_LARGE = 31
    ROLL_TOO_LARGE = 32
    # Eyes, mouth, glasses
    EYES_CLOSED = 40
    MOUTH_OPEN = 45
    MOUTH_OCCLUDED = 46
    EYEGLASSES = 50
    SUNGLASSES = 51
    # Overall quality and presentation-attack evidence
    LOW_QUALITY = 60
    LIVENESS_FAILED = 70
    DEEPFAKE = 71
    IMAGE_MODIFIED = 72
    # Plugins
    FACE_CHANGED = 80
    VIRTUAL_CAMERA = 81
    # Active liveness prompts: the page asks for this action next
    ACTION_BLINK = 90
    ACTION_YAW_LEFT = 91
    ACTION_YAW_RIGHT = 92
    ACTION_PITCH_UP = 93
    ACTION_PITCH_DOWN = 94
    ACTION_SMILE = 95
    ACTION_MOUTH_OPEN = 96
    ACTION_TIMED_OUT = 97
    SESSION_MARKED_FAKE = 99
    # Screen-light challenge (LightChallenge)
    LIGHT_HOLD_STILL = 100  # the screen shows the colours: hold still and look at it
    LIGHT_TOO_WEAK = 101  # too little reflection (bright room, dim screen): a fresh sequence follows
    LIGHT_FAILED = 102  # the reflection did not match the colours shown: the session ends
    LIGHT_REQUIRED = 103  # the light check was declined or not shown while the operator requires it


class SystemCode(IntEnum):
    INTERNAL = 1000
    MALFORMED_MESSAGE = 1001
    UNKNOWN_COMMAND = 1002
    NOT_CONNECTED = 1003
    ALREADY_CONNECTED = 1004
    FRAME_IN_FLIGHT = 1005
    UNSUPPORTED_CONTENT_TYPE = 1006
    INVALID_BASE64 = 1007
    NOT_AN_IMAGE = 1008
    IMAGE_TOO_LARGE = 1009
    BAD_IMAGE_DIMENSIONS = 1010
    HEADERS_TOO_LARGE = 1011
    UNKNOWN_SESSION = 1012
    UNSUPPORTED_VERSION = 1013
    PROCESSING_TIMEOUT = 1014
    SESSION_ENDED = 1015
    MAX_ATTEMPTS = 1016
    BUS_UNAVAILABLE = 1017
    BAD_HEADER = 1018
    MESSAGE_TOO_LARGE = 1019
    OVERLOADED = 1020
    IDLE = 1021
    LIMITED = 1022


class VigilError(Exception):
    """Root of every error Vigil raises on purpose."""

    code: SystemCode = SystemCode.INTERNAL

    def __init__(self, message: str, *, code: SystemCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigError(VigilError):
    """Settings or files on disk are wrong; the process cannot start."""


class ModelError(VigilError):
    """A model file is missing, corrupt, or not what its manifest says."""


class ProtocolError(VigilError):
    """A client broke LPProto; answered with ERROR and the carried code."""

    code = SystemCode.MALFORMED_MESSAGE


class ImageError(ProtocolError):
    """A frame's image is not acceptable (encoding, type, size)."""

    code = SystemCode.NOT_AN_IMAGE


class MessageDecodeError(VigilError):
    """Bytes on a stream are not a valid message; carries them for the dead-letter stream."""

    def __init__(self, message: str, raw: bytes) -> None:
        super().__init__(message)
        self.raw = raw


class BusError(VigilError):
    """Redis failed a command. The client from shared/redis_connect.py raises only these (and their
    subclasses), translated once from redis-py's exceptions: Vigil code never catches redis-py's."""


class BusUnavailable(BusError):
    """Redis cannot take a command now (unreachable, too slow, a refused login, or full): wait and
    retry, or answer 1017 (retry later); never a bug to crash on."""

    code = SystemCode.BUS_UNAVAILABLE


class BusFull(BusUnavailable):
    """Redis refused a write at its memory bound (``maxmemory`` with ``noeviction``) until trimming
    frees room: waited on and answered like a lost Redis."""


class BusRefused(BusError):
    """Redis answered the command with an error reply (e.g. ``NOGROUP``: the consumer group is gone
    with a restart); the reply's text is the message."""


class BusConflict(BusError):
    """A key WATCHed for a transaction changed (or the connection was lost) before EXEC: nothing
    was written; read again and retry."""


class RetryLaterError(VigilError):
    """A new session refused for now: the reply carries ``retry-after`` and the socket closes."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class OverloadedError(RetryLaterError):
    """A new session refused because the pipeline is beyond its capacity; retry after a while."""

    code = SystemCode.OVERLOADED


class LimitedError(RetryLaterError):
    """A new session refused by an abuse limit (too many failures, sessions or new sessions from one
    address, device or user key); retry after a while."""

    code = SystemCode.LIMITED
