"""Fixtures: an isolated home for every test, the fake server, and settings pointing at it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chatmem.config import Settings
from tests.fake_openai import FakeOpenAI

SNAP_PORT_BASE = 47310  # snapshots need a stable URL on screen: one fixed port per xdist worker


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


@pytest.fixture
def snap_server(worker_id):
    index = 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))
    with FakeOpenAI(port=SNAP_PORT_BASE + index) as server:
        yield server


@pytest.fixture
def snap_settings(tmp_path, snap_server) -> Settings:
    return settings_for(tmp_path, snap_server.url)
