"""Every subcommand a person types (`vigil ...`, `python -m admin ...`) answers bad arguments,
missing files, unreachable Redis and wrong keys with one line on stderr and a non-zero exit, never
a traceback. Each case is a real process with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

pytestmark = pytest.mark.e2e  # runs each command as a program

ROOT = Path(__file__).resolve().parent.parent
NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1
VIGIL = ["-m", "infra.cli"]
ADMIN = ["-m", "admin"]
DEV = {"VIGIL_ENV": "development", "VIGIL_REDIS__URL": NOWHERE}
# (arguments, environment, standard input, a fragment the one line must contain)
CASES: list[tuple[list[str], dict[str, str], str, str]] = [
    ([*VIGIL], {}, "", "required: command"),
    ([*VIGIL, "nope"], {}, "", "invalid choice"),
    ([*VIGIL, "run", "--scale", "estimator"], DEV, "", "expected SERVICE=N"),
    ([*VIGIL, "run"], {}, "", "VIGIL_JWT__KEY"),
    ([*VIGIL, "run"], {"VIGIL_JWT__KEY": " " * 32}, "", "whitespace"),
    ([*VIGIL, "check"], {}, "", "required: path"),
    ([*VIGIL, "check", "/nonexistent.jpg"], {}, "", "does not exist"),
    ([*VIGIL, "check", str(ROOT / "README.md"), "--url", "ws://127.0.0.1:1/ws"], {}, "", "127.0.0.1"),
    ([*VIGIL, "prepare-models", "--now"], {}, "", "unrecognized arguments"),
    ([*VIGIL, "verify", "a.b.c"], {}, "", "give --key"),
    ([*VIGIL, "verify", "-", "--key", "k" * 40], {}, "not.a.token", "INVALID"),
    ([*VIGIL, "verify", "a.b.c", "--public-key", "/nonexistent.pem", "--algorithm", "ES256"], {}, "",
     "No such file"),
    ([*VIGIL, "verify", "a.b.c", "--public-key", "{public_pem}", "--algorithm", "HS256"], {}, "", "HS"),
    ([*VIGIL, "verify", "{es256_token}", "--public-key", str(ROOT / "README.md"), "--algorithm", "ES256"], {}, "",
     "not a usable ES256 key"),
    ([*VIGIL, "verify", "a.b.c", "--key", "x", "--algorithm", "none"], {}, "", "invalid choice"),
    ([*VIGIL, "ui-config", "load", "/nonexistent.json"], DEV, "", "cannot read"),
    ([*VIGIL, "ui-config", "load", str(ROOT / "pyproject.toml")], DEV, "", "cannot read"),
    ([*VIGIL, "ui-config", "load", "{bad_config}"], DEV, "", "not a valid UI config"),
    ([*VIGIL, "ui-config", "list"], DEV, "", "unreachable"),
    ([*VIGIL, "ui-config", "show"], DEV, "", "required: name"),
    ([*VIGIL, "config", "show"], {}, "", "VIGIL_JWT__KEY"),
    ([*VIGIL, "config", "show"], DEV, "", "unreachable"),
    ([*VIGIL, "config", "set", "default", "session", "max_attempts"], DEV, "", "NAME=VALUE"),
    ([*VIGIL, "config", "history"], DEV, "", "unreachable"),
    ([*VIGIL, "config", "drop"], DEV, "", "required: tag"),
    ([*VIGIL, "plugin-events"], DEV, "", "unreachable"),
    ([*VIGIL, "videos", "--before", "latest"], {}, "", "stream entry id"),
    ([*VIGIL, "videos", "--count", "100000"], {}, "", "from 1 to"),
    ([*VIGIL, "eval", "--media", "/nonexistent"], DEV, "", "manifest.json"),
    ([*VIGIL, "replay"], DEV, "", "give a SESSION"),
    ([*VIGIL, "replay", "s1"], DEV, "", "127.0.0.1"),
    ([*VIGIL, "replay", "s1", "--settings", "/nonexistent.json"], DEV, "", "No such file"),
    ([*ADMIN, "set-password"], {}, "", "required: name"),
    ([*ADMIN, "set-password", "Bad Name!"], {}, "", "a user name is"),
    ([*ADMIN, "set-password", "alice"], {"VIGIL_REDIS__URL": NOWHERE}, "", "unreachable"),
    ([*ADMIN], {}, "", "VIGIL_JWT__KEY"),
    ([*ADMIN], DEV, "", "127.0.0.1"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import jwt

    folder = tmp_path_factory.mktemp("cli")
    private = ec.generate_private_key(ec.SECP256R1())
    public = folder / "public.pem"
    public.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    bad_config = folder / "bad.json"
    bad_config.write_text('{"name": "bad name!", "image_width": 5}')
    token = jwt.encode({"isOk": True, "jti": "j", "sid": "s", "iat": 1, "exp": 2**40}, private, algorithm="ES256")
    return {"public_pem": str(public), "bad_config": str(bad_config), "es256_token": token}


@pytest.mark.parametrize(("args", "env", "stdin", "fragment"), CASES,
                         ids=[" ".join(case[0][1:])[:60] for case in CASES])
def test_each_mistake_is_one_line_and_a_failure(files: dict[str, str], tmp_path: Path, args: list[str],
                                                 env: dict[str, str], stdin: str, fragment: str) -> None:
    command = [sys.executable, *(arg.format(**files) if arg.startswith("{") else arg for arg in args)]
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("VIGIL_")}
    done = subprocess.run(command, cwd=tmp_path, env={**clean, "VIGIL_JWT__KEY_FILE": str(tmp_path / "jwt.key"),
                                                      **env},
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    # The admin panel logs through logging; its one line is the last, after any log record.
    assert len(lines) == 1 or (args[:2] == ADMIN and len(lines) >= 1), done.stderr
    assert fragment in lines[-1], done.stderr
