"""Logging: configured once by an entry point; every line stamped with the request, tenant,
run and step ids of the work in progress; secrets redacted before anything is written."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from smeflow.core.context import request_id_var, run_id_var, step_id_var, tenant_id_var

_SECRET_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"smf_[A-Za-z0-9_-]{6,}"), "smf_[redacted]"),
    (
        re.compile(r"(?i)((?:password|secret|token|api[_-]?key|passkey)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    """``text`` with bearer tokens, API keys and ``password=…``-style values blanked out."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant_id = tenant_id_var.get()
        record.run_id = run_id_var.get()
        record.step_id = step_id_var.get()
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in ("request_id", "tenant_id", "run_id", "step_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{key}={value}"
            for key in ("request_id", "tenant_id", "run_id", "step_id")
            if (value := getattr(record, key, None))
        )
        line = redact(super().format(record))
        return f"{line} [{ids}]" if ids else line


def configure_logging(level: str = "INFO", *, json_lines: bool = False) -> None:
    """Configure the root logger once (idempotent)."""
    handler = logging.StreamHandler()
    handler.addFilter(_ContextFilter())
    handler.setFormatter(
        _JsonFormatter() if json_lines else _TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_smeflow", False):
            root.removeHandler(existing)
    handler._smeflow = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for chatty in (
        "pgserver",
        "casbin",
        "casbin.policy",
        "casbin.role",
        "alembic.runtime.migration",
        "httpx",
        "procrastinate",
    ):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


__all__ = ["configure_logging", "redact"]
