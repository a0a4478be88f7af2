"""Administrators and groups, stored as JSON in two Redis hashes; a group grants sections.

A user may open a section when one of their groups grants it. The built-in ``administrators``
group grants every section and cannot be edited or deleted, so nobody locks everyone out.
"""

from __future__ import annotations

import re
import time
from enum import StrEnum

from pydantic import field_validator
from redis.asyncio import Redis

from shared.keys import Keys
from shared.messages import Message
from shared.store import ModelHash

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
NAME_RULE = "1-64 lower-case letters, digits, '_', '.' or '-', starting with a letter or digit"
ADMINISTRATORS = "administrators"


class Section(StrEnum):
    UI_CONFIGS = "ui_configs"
    SETTINGS = "settings"
    STATISTICS = "statistics"
    SESSIONS = "sessions"
    USERS = "users"

    @property
    def label(self) -> str:
        return {"ui_configs": "UI configs"}.get(self.value, self.value.capitalize())


def _check_name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(f"a name is {NAME_RULE}")
    return value


class AdminGroup(Message):
    TYPE = "admin-group"

    name: str
    sections: tuple[Section, ...] = ()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)


class AdminUser(Message):
    TYPE = "admin-user"

    name: str
    password_hash: str
    groups: tuple[str, ...] = ()
    must_change_password: bool = True
    # Bumped when the password changes: sign-ins made before then stop working.
    session_epoch: int = 0
    created_at: float = 0.0

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)


ALL_ADMIN = AdminGroup(name=ADMINISTRATORS, sections=tuple(Section))


class AccountStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys
        self._users = ModelHash(redis, keys.admin_users, AdminUser)
        self._groups = ModelHash(redis, keys.admin_groups, AdminGroup)

    async def user(self, name: str) -> AdminUser | None:
        return await self._users.get(name)

    async def users(self) -> list[AdminUser]:
        return sorted(await self._users.all(), key=lambda u: u.name)

    async def add_user(self, user: AdminUser) -> bool:
        """Create ``user``; False when the name is taken."""
        return await self._users.put_new(user.name, user)

    async def save_user(self, user: AdminUser) -> None:
        await self._users.put(user.name, user)

    async def delete_user(self, name: str) -> None:
        await self._users.delete(name)

    async def group(self, name: str) -> AdminGroup | None:
        if name == ADMINISTRATORS:
            return ALL_ADMIN
        return await self._groups.get(name)

    async def groups(self) -> list[AdminGroup]:
        stored = await self._groups.all()
        return [ALL_ADMIN, *sorted((g for g in stored if g.name != ADMINISTRATORS), key=lambda g: g.name)]

    async def add_group(self, group: AdminGroup) -> bool:
        if group.name == ADMINISTRATORS:
            return False
        return await self._groups.put_new(group.name, group)

    async def save_group(self, group: AdminGroup) -> None:
        await self._groups.put(group.name, group)

    async def delete_group(self, name: str) -> None:
        """Delete the group and take it away from its members."""
        await self._groups.delete(name)
        for user in await self.users():
            if name in user.groups:
                await self.save_user(user.model_copy(update={"groups": tuple(g for g in user.groups if g != name)}))

    async def sections(self, user: AdminUser) -> frozenset[Section]:
        granted: set[Section] = set()
        for name in user.groups:
            group = await self.group(name)
            if group is not None:
                granted.update(group.sections)
        return frozenset(granted)

    async def has_users(self) -> bool:
        return bool(await self._users.count())


def new_user(name: str, password_hash: str, groups: tuple[str, ...], *, must_change: bool = True) -> AdminUser:
    return AdminUser(name=name, password_hash=password_hash, groups=groups, must_change_password=must_change,
                     created_at=time.time())
