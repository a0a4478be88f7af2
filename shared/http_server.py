"""The Hypercorn configuration the two HTTP processes (ingress, admin panel) share."""

from __future__ import annotations

import logging

from hypercorn.config import Config


def hypercorn_config(host: str, port: int, *, websocket_max_message_bytes: int | None = None) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    if websocket_max_message_bytes is not None:
        config.websocket_max_message_size = websocket_max_message_bytes
    config.accesslog = None
    # Hand Hypercorn our logger so its lines are formatted (and shown) once, like every other.
    config.errorlog = logging.getLogger("hypercorn.error")
    return config
