"""Every Redis key, stream and consumer group Vigil uses, in one place.

All names start with the configured prefix ``P`` (``VIGIL_REDIS__KEY_PREFIX``, default
``vigil``); tests give each test its own prefix. Nothing else builds a key name.

| key | type | producer | consumers | retention |
|---|---|---|---|---|
| ``P:frames`` | stream of ``FrameMessage`` | ingress (one entry per FRAME) | groups ``estimator``, ``videobuilder`` | ``MAXLEN ~ bus.stream_maxlen`` |
| ``P:estimations`` | stream of ``EstimationMessage`` | estimator | group ``decider`` | ``MAXLEN ~ bus.stream_maxlen`` |
| ``P:reply:{session}`` | stream of ``ReplyMessage`` | decider (and estimator, for frames it cannot decode) | the ingress connection serving the session, by plain ``XREAD`` from the last id it saw | ``MAXLEN ~ bus.reply_maxlen``, expires ``session.ttl_s`` after the last reply |
| ``P:session:{session}`` | hash: ``created``, ``frames`` (counter), ``connections`` (counter), ``ended`` (reason) | ingress | ingress (resume with ``session-id``) | expires ``session.ttl_s`` after the last frame |
| ``P:dead:{stream}`` | stream: ``stream``, ``id``, ``group``, ``reason``, ``payload`` | the consumer loop, for an entry that cannot be decoded or failed ``bus.max_deliveries`` times | operators (``vigil`` CLI, replay) | ``MAXLEN ~ bus.stream_maxlen`` |

Delivery is at-least-once: a consumer must tolerate seeing the same entry twice (replies are
matched by ``request_id``; the ingress ignores replies it is not waiting for).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Group(StrEnum):
    ESTIMATOR = "estimator"
    DECIDER = "decider"
    VIDEOBUILDER = "videobuilder"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    @property
    def frames(self) -> str:
        return f"{self.prefix}:frames"

    @property
    def estimations(self) -> str:
        return f"{self.prefix}:estimations"

    def reply(self, session_id: str) -> str:
        return f"{self.prefix}:reply:{session_id}"

    def session(self, session_id: str) -> str:
        return f"{self.prefix}:session:{session_id}"

    def dead_letter(self, stream: str) -> str:
        return f"{self.prefix}:dead:{stream.removeprefix(self.prefix + ':')}"
