"""The real worker process behind the UI's link: frames both ways, death and restart, logs."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from chatmem import protocol as p
from chatmem.ui.link import SubprocessLink
from tests.fake_openai import Error

ROOT = Path(__file__).resolve().parent.parent


class Events:
    def __init__(self) -> None:
        self.items: list[p.Event] = []
        self.changed = asyncio.Event()

    def __call__(self, event: p.Event) -> None:
        self.items.append(event)
        self.changed.set()

    def of(self, kind: type) -> list:
        return [e for e in self.items if isinstance(e, kind)]

    async def wait_for(self, kind: type, count: int = 1, timeout: float = 20.0):
        async def wait() -> None:
            while sum(isinstance(e, kind) for e in self.items) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)
        return [e for e in self.items if isinstance(e, kind)][-1]


@pytest.fixture(autouse=True)
def child_imports_this_checkout(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def started(settings) -> tuple[SubprocessLink, Events]:
    events = Events()
    worker = SubprocessLink()
    worker.start(events)
    worker.send(p.Start(settings))
    return worker, events


async def test_chat_through_the_worker_process(settings):
    worker, events = started(settings)
    worker.send(p.SendMessage("over the pipe"))
    done = await events.wait_for(p.ReplyDone)
    assert done.message.content == "Echo: over the pipe"
    await worker.close()
    assert worker.exit_code == 0


async def test_a_dead_worker_is_restarted_and_the_session_resumes(settings):
    worker, events = started(settings)
    worker.send(p.SendMessage("before the crash"))
    await events.wait_for(p.ReplyDone)
    os.kill(worker.pid, signal.SIGKILL)
    down = await events.wait_for(p.WorkerDown)
    assert "-9" in down.reason
    loaded = await events.wait_for(p.SessionLoaded, count=2)
    assert [m.content for m in loaded.messages] == ["before the crash", "Echo: before the crash"]
    worker.send(p.SendMessage("after"))
    assert (await events.wait_for(p.ReplyDone, count=2)).message.content == "Echo: after"
    await worker.close()


async def test_the_api_key_reaches_no_log(settings, fake_openai):
    key = "sk-live-DoNotLogMe-0123456789abcdef"
    fake_openai.api_key = "sk-something-else"
    worker, events = started(replace(settings, api_key=key))
    worker.send(p.SendMessage("hello"))
    failed = await events.wait_for(p.ReplyFailed)
    assert failed.error.kind == "auth" and key not in failed.error.message
    await worker.close()
    logs = list(Path(settings.state_dir).rglob("*.log"))
    assert logs
    for log in logs:
        assert key not in log.read_text()
        assert "DoNotLogMe" not in log.read_text()


async def test_an_error_from_the_server_crosses_as_an_event(settings, fake_openai):
    fake_openai.script(Error(500, "down for maintenance"))
    worker, events = started(settings)
    worker.send(p.SendMessage("hi"))
    failed = await events.wait_for(p.ReplyFailed)
    assert failed.error.kind == "server" and "maintenance" in failed.error.message
    await worker.close()
