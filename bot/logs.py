"""Logging set-up: console or JSON lines; Bolt's own payload-printing debug output stays off."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

# Set for each Slack request so every log line it causes can be correlated; "-" outside requests.
request_id_var: ContextVar[str] = ContextVar("confide_request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class DropBelow(logging.Filter):
    """Drops records below a level whatever level the logger is set to (a test or operator may set DEBUG)."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


# Below these levels, libraries print what Confide promises never to log (request and response bodies,
# SQL parameters: user text, receipt keys, trigger ids, the ids of anonymous reporters).
LIBRARY_FLOORS = {"sqlalchemy.engine.Engine": logging.WARNING}


def guarded_logger(name: str, level: int = logging.INFO) -> logging.Logger:
    """A logger that never passes on records below `level`; Bolt and the Slack SDK are given one each
    (their DEBUG output is whole payloads) and copy its filter onto the loggers they derive from it."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, DropBelow) for f in logger.filters):
        logger.addFilter(DropBelow(level))
    return logger


def guard_library_logs() -> None:
    for name, level in LIBRARY_FLOORS.items():
        guarded_logger(name, level)


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    # Neither format shows the caller's file and line, thread or process: skip finding them for every
    # record (the logging HOWTO's "Optimization"; a stack walk per line on every Slack request).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Bolt and the SDK print whole request and response bodies at DEBUG; bodies never reach our logs.
    for noisy in ("slack_bolt", "slack_sdk", "aiohttp.access", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    guard_library_logs()
