"""LPProto grammar: what parses, and the documented code for what does not."""

from __future__ import annotations

import pytest

from shared.errors import ProtocolError, SystemCode
from shared.lpproto import Command, format_message, parse

LIMIT = 4096


def test_connect_with_headers_and_crlf() -> None:
    message = parse("CONNECT\r\nversion:1.0\r\nheartbeat:1000\r\nsession-id:abc\r\n\r\n", max_header_bytes=LIMIT)
    assert message.command is Command.CONNECT
    assert message.headers == {"version": "1.0", "heartbeat": "1000", "session-id": "abc"}
    assert message.body == ""


def test_frame_body_after_empty_line() -> None:
    message = parse("FRAME\ncontent-type:image/x-jpeg-base64\n\n/9j/4AAQ", max_header_bytes=LIMIT)
    assert message.headers["content-type"] == "image/x-jpeg-base64"
    assert message.body == "/9j/4AAQ"


def test_message_without_blank_line_or_body() -> None:
    assert parse("HEARTBEAT", max_header_bytes=LIMIT).command is Command.HEARTBEAT


def test_header_value_may_contain_colons() -> None:
    assert parse("CONNECT\nx-note:a:b\n\n", max_header_bytes=LIMIT).headers["x-note"] == "a:b"


def test_round_trip_of_formatted_message() -> None:
    text = format_message(Command.STATS, {"content-type": "application/json"}, '{"isOk": false}')
    message = parse(text, max_header_bytes=LIMIT)
    assert (message.command, message.body) == (Command.STATS, '{"isOk": false}')


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", SystemCode.MALFORMED_MESSAGE),
        ("connect\n\n", SystemCode.MALFORMED_MESSAGE),
        ("HELLO\n\n", SystemCode.UNKNOWN_COMMAND),
        ("CONNECT\nno colon here\n\n", SystemCode.MALFORMED_MESSAGE),
        ("CONNECT\nversion:1\nversion:2\n\n", SystemCode.MALFORMED_MESSAGE),
        ("CONNECT\nbad name!:1\n\n", SystemCode.MALFORMED_MESSAGE),
        ("FRAME\ncontent-type:x\n" + "x-pad:" + "a" * LIMIT + "\n\nbody", SystemCode.HEADERS_TOO_LARGE),
        ("\x00\x01\x02", SystemCode.MALFORMED_MESSAGE),
    ],
)
def test_bad_messages_raise_documented_codes(text: str, code: SystemCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(text, max_header_bytes=LIMIT)
    assert caught.value.code is code
