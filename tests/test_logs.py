"""Logs go to a private file, and never hold a key."""

from __future__ import annotations

import logging
import stat

import pytest

from chatmem.logs import register_secret, setup_logging

KEY = "sk-proj-SuperSecretKey0123456789"


@pytest.fixture(autouse=True)
def restore_root_handlers():
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()


def test_keys_never_reach_the_log(tmp_path):
    path = setup_logging(tmp_path / "logs", "test", secrets=[KEY])
    register_secret("local-token-without-prefix")
    log = logging.getLogger("chatmem.test")
    log.warning("key is %s", KEY)
    log.warning(f"inline {KEY} and Bearer abcdefghijklmnop and local-token-without-prefix")
    try:
        raise ValueError(f"Incorrect API key provided: {KEY}")
    except ValueError:
        log.exception("request failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    assert "request failed" in text and "[redacted]" in text
    assert KEY not in text and "abcdefghijklmnop" not in text
    assert "local-token-without-prefix" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_setup_is_idempotent(tmp_path):
    root = logging.getLogger()
    setup_logging(tmp_path, "twice")
    count = len(root.handlers)
    setup_logging(tmp_path, "twice")
    assert len(root.handlers) == count
