"""First start: no ``admin/admin``. The first administrator gets a generated password, printed
once in the log, which must be changed at first sign-in; ``set-password`` recovers an account."""

from __future__ import annotations

import logging

from admin.accounts import ADMINISTRATORS, AccountStore, new_user
from admin.actions import ActionLog, ObjectKind, Verb
from admin.passwords import Passwords, generate_password

log = logging.getLogger(__name__)
FIRST_ADMIN = "admin"


async def create_first_admin(accounts: AccountStore, passwords: Passwords, actions: ActionLog) -> str | None:
    """The generated password when this call created the first administrator, else None."""
    if await accounts.has_users():
        return None
    password = generate_password()
    user = new_user(FIRST_ADMIN, await passwords.hash(password), (ADMINISTRATORS,))
    if not await accounts.add_user(user):  # another admin process won the race
        return None
    await actions.record("system", Verb.CREATED, ObjectKind.USER, FIRST_ADMIN, "first administrator")
    log.warning(
        "first start: created administrator %r with password %s (shown only now; it must be changed at first "
        "sign-in)", FIRST_ADMIN, password,
    )
    return password


async def reset_password(accounts: AccountStore, passwords: Passwords, actions: ActionLog, name: str) -> str:
    """A new generated password for ``name`` (created as an administrator if missing); it must be
    changed at the next sign-in, and every current sign-in of that user ends."""
    password = generate_password()
    hashed = await passwords.hash(password)
    user = await accounts.user(name)
    if user is None:
        await accounts.save_user(new_user(name, hashed, (ADMINISTRATORS,)))
        await actions.record("cli", Verb.CREATED, ObjectKind.USER, name, "administrator, from the command line")
    else:
        await accounts.save_user(user.model_copy(update={
            "password_hash": hashed, "must_change_password": True, "session_epoch": user.session_epoch + 1,
        }))
        await actions.record("cli", Verb.RESET_PASSWORD, ObjectKind.USER, name)
    return password
