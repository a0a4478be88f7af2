"""Logging set-up shared by every process (the launcher prefixes each text line with the process;
JSON lines it passes through as they are, since they name their process themselves)."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """One object per line: what a log collector (Loki, Elasticsearch, journald) indexes without a parser."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "process": self.process, "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def process_name() -> str:
    """``services.estimator`` -> ``estimator``; ``admin`` -> ``admin``; a script: its file name."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = spec.name.removesuffix(".__main__") if spec is not None else os.path.basename(sys.argv[0])
    return name.rsplit(".", 1)[-1]


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Called again once the settings are known (``force``): the earlier set-up is replaced."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter(process_name()))
        logging.basicConfig(level=level, handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
