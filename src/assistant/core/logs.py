"""Structured (JSON lines) logging to stderr: an event name as the message, its values as fields
(`log.info("indexed", extra={"fields": {"doc_id": …}})`), never packed into the text."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False, default=str)  # an exception or a path as its text


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_third_party()


def quiet_third_party() -> None:
    """Third-party chatter is not ours to log; PTB and the HTTP clients would log chat texts at DEBUG."""
    for noisy in ("pypdf", "httpx", "haystack", "trafilatura", "htmldate", "urllib3", "telegram", "httpcore",
                  "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
