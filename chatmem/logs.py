"""Logging to a private rotating file, never the screen, with secrets redacted."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from logging.handlers import RotatingFileHandler
from pathlib import Path

from chatmem.paths import private_dir

_SECRETS: set[str] = set()
_KEYLIKE = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9_\-\.=]{8,})")
REDACTED = "[redacted]"


def register_secret(secret: str) -> None:
    """Never let ``secret`` reach a log line (keys typed in later are added here too)."""
    if len(secret) >= 4:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, REDACTED)
    return _KEYLIKE.sub(REDACTED, text)


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _PrivateRotatingHandler(RotatingFileHandler):
    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.chmod(self.baseFilename, 0o600)
        return os.fdopen(fd, self.mode.replace("w", "a"), encoding=self.encoding)


def setup_logging(log_dir: Path, name: str, secrets: Iterable[str] = ()) -> Path | None:
    """Send this process's logs to ``log_dir/NAME.log`` (1 MB x 3, mode 0600); None where
    that folder cannot be written (a read-only or full disk): no log then, and no crash."""
    for secret in secrets:
        register_secret(secret)
    path = log_dir / f"{name}.log"
    root = logging.getLogger()
    if not any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        try:
            private_dir(log_dir)
            handler = _PrivateRotatingHandler(
                path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
            )
        except OSError:
            return None
        handler.setFormatter(
            _Redacting(
                "%(asctime)s %(processName)s[%(process)d] %(name)s %(levelname)s %(message)s"
            )
        )
        root.addHandler(handler)
    wanted = os.environ.get("CHATMEM_LOG_LEVEL", "INFO").strip().upper()
    level = logging.getLevelNamesMapping().get(wanted)
    root.setLevel(logging.INFO if level is None else level)
    if level is None:
        logging.getLogger(__name__).warning(
            "CHATMEM_LOG_LEVEL=%r is not a level (DEBUG, INFO, WARNING, ERROR): INFO is used",
            wanted,
        )
    return path
