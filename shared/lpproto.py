"""LPProto wire format: a command line, ``name:value`` header lines, an empty line, the body.

Both ``\\n`` and ``\\r\\n`` line ends are accepted; replies are written with ``\\n``. The ingress
parses what clients send with this module and the Python client parses replies with it, so the
grammar lives in one place. Commands and headers are documented in docs/protocol.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from shared.errors import ProtocolError, SystemCode

PROTOCOL_VERSION = "1.0"
_COMMAND = re.compile(r"^[A-Z][A-Z_]{0,31}$")
_HEADER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class Command(StrEnum):
    CONNECT = "CONNECT"
    CONNECTED = "CONNECTED"
    FRAME = "FRAME"
    STATS = "STATS"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    HEARTBEAT = "HEARTBEAT"


@dataclass(frozen=True, slots=True)
class LPMessage:
    command: Command
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


def parse(text: str, *, max_header_bytes: int) -> LPMessage:
    """Parse one LPProto message; ``ProtocolError`` with a documented code if it is not one."""
    head, separator, body = _split_head(text)
    if len(head.encode()) > max_header_bytes:
        raise ProtocolError(f"header block over {max_header_bytes} bytes", code=SystemCode.HEADERS_TOO_LARGE)
    lines = head.split("\n")
    name = lines[0].strip()
    if not _COMMAND.match(name):
        raise ProtocolError("first line is not a command", code=SystemCode.MALFORMED_MESSAGE)
    try:
        command = Command(name)
    except ValueError:
        raise ProtocolError(f"unknown command {name!r}", code=SystemCode.UNKNOWN_COMMAND) from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon or not _HEADER_NAME.match(key):
            raise ProtocolError(f"bad header line {line[:40]!r}", code=SystemCode.MALFORMED_MESSAGE)
        if key in headers:
            raise ProtocolError(f"header {key!r} repeated", code=SystemCode.MALFORMED_MESSAGE)
        headers[key] = value.strip()
    if not separator and body:
        raise ProtocolError("no empty line before the body", code=SystemCode.MALFORMED_MESSAGE)
    return LPMessage(command, headers, body)


def _split_head(text: str) -> tuple[str, str, str]:
    normalised = text.replace("\r\n", "\n") if "\r" in text[:8192] else text
    head, separator, body = normalised.partition("\n\n")
    return head.rstrip("\n"), separator, body


def format_message(command: Command, headers: dict[str, str] | None = None, body: str = "") -> str:
    lines = [command.value, *(f"{key}:{value}" for key, value in (headers or {}).items())]
    return "\n".join(lines) + "\n\n" + body
