"""Password hashing (argon2id, off the event loop), generation and the rules for a new one."""

from __future__ import annotations

import secrets

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256


def generate_password() -> str:
    """A random password of 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


def password_problem(new: str, confirm: str, *, current: str = "", user: str = "") -> str | None:
    """Why ``new`` cannot be the new password, or None."""
    if new != confirm:
        return "The two new passwords differ."
    if not MIN_LENGTH <= len(new) <= MAX_LENGTH:
        return f"A password has {MIN_LENGTH} to {MAX_LENGTH} characters."
    if new == current:
        return "The new password must differ from the current one."
    if user and user.lower() in new.lower():
        return "A password must not contain the user name."
    return None


class Passwords:
    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; an unknown user (None) costs the same time."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(generate_password())
            stored = self._dummy
            password = ""
        return await anyio.to_thread.run_sync(self._verify, stored, password)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return bool(password) and self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)
