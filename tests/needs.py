"""What a test needs from the machine (media, Chromium, nginx, node, root): absent, the test is
skipped on a developer's machine and fails in CI, where `make test` installs everything; a CI run
never passes by skipping."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(problem: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"cannot run in CI: {problem}")
    pytest.skip(problem)
