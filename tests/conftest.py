"""Fixtures: an isolated home for every test, the fake server, and settings pointing at it."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from chatmem.config import Settings
from tests.fake_openai import FakeOpenAI

# Snapshots show the base URL, so their server has a fixed port; they all run in one xdist
# group (see tests/test_snapshots.py), so only one of them listens at a time.
SNAP_PORT = 47310

os.environ["TZ"] = "UTC"  # times on screen and in prompts do not depend on the machine
time.tzset()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """No test reads or writes the real user's config, data, logs or keys."""
    for var in list(os.environ):
        if var.startswith(("OPENAI_", "CHATMEM_")):
            monkeypatch.delenv(var)
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


def settings_for(tmp_path: Path, url: str) -> Settings:
    return Settings(
        base_url=url,
        api_key="sk-test",
        model="gpt-4o-mini",
        request_timeout=5.0,
        max_retries=0,
        ollama_url="http://127.0.0.1:9",
        config_path=str(tmp_path / "config" / "chatmem" / "config.toml"),
        data_dir=str(tmp_path / "data" / "chatmem"),
        state_dir=str(tmp_path / "state" / "chatmem"),
    )


@pytest.fixture
def settings(tmp_path, fake_openai) -> Settings:
    return settings_for(tmp_path, fake_openai.url)


CLI_KEY = "sk-test-DoNotShowMe-1234567890"


@pytest.fixture
def cli_env(monkeypatch, fake_openai):
    """The environment a user would set for the headless commands, pointing at the fake
    server; the log handlers ``chatmem ask`` adds (in this test's home) go afterwards."""
    for var, value in {
        "OPENAI_BASE_URL": fake_openai.url,
        "OPENAI_API_KEY": CLI_KEY,
        "CHATMEM_MODEL": "gpt-4o-mini",
        "CHATMEM_MAX_RETRIES": "0",
        "CHATMEM_TIMEOUT": "5",
        "CHATMEM_OLLAMA_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(var, value)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in set(root.handlers) - set(handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


@pytest.fixture
def snap_server():
    with FakeOpenAI(port=SNAP_PORT) as server:
        yield server


@pytest.fixture
def snap_settings(snap_server) -> Settings:
    """Paths relative to the test's own cwd (a tmp dir), so the screen never shows a tmp name."""
    return settings_for(Path("."), snap_server.url)
