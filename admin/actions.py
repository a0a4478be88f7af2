"""Recent actions: every administrative change is an ``AdminAction`` on the admin-actions stream."""

from __future__ import annotations

import logging
import time
from enum import StrEnum

from redis.asyncio import Redis

from shared.bus import publish
from shared.errors import MessageDecodeError
from shared.keys import Keys
from shared.messages import Message, decode

log = logging.getLogger(__name__)


class ObjectKind(StrEnum):
    UI_CONFIG = "ui_config"
    USER = "user"
    GROUP = "group"
    SETTINGS = "settings"  # object id: "tag/group" of the live settings changed
    BLOCK = "block"  # object id: "scope value" of an abuse-limit block


class Verb(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    CHANGED_PASSWORD = "changed the password of"
    RESET_PASSWORD = "reset the password of"
    LIFTED = "lifted"


class AdminAction(Message):
    TYPE = "admin_action"

    actor: str
    verb: Verb
    kind: ObjectKind
    object_id: str
    at: float
    detail: str = ""


class ActionLog:
    def __init__(self, redis: Redis, keys: Keys, maxlen: int) -> None:
        self.redis, self.keys, self.maxlen = redis, keys, maxlen

    async def record(self, actor: str, verb: Verb, kind: ObjectKind, object_id: str, detail: str = "") -> None:
        action = AdminAction(actor=actor, verb=verb, kind=kind, object_id=object_id, at=time.time(), detail=detail)
        await publish(self.redis, self.keys.admin_actions, action, maxlen=self.maxlen)
        log.info("%s %s %s %s %s", actor, verb.value, kind.value, object_id, detail)

    async def latest(self, count: int = 20) -> list[AdminAction]:
        actions = []
        for entry_id, fields in await self.redis.xrevrange(self.keys.admin_actions, count=count):
            try:
                actions.append(decode(AdminAction, fields))
            except MessageDecodeError:
                log.warning("skipping undecodable admin action %s", entry_id)
        return actions
