"""The real worker process behind the UI's link: frames both ways, death and restart, logs."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import subprocess
import sys
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


async def test_a_request_that_fails_is_logged_and_the_worker_carries_on(settings):
    worker = SubprocessLink()
    events = Events()
    worker.start(events)
    worker.send(p.LoadOlder("nothing"))  # before Start: the worker has no session to read
    worker.send(p.Start(settings))
    notice = await events.wait_for(p.Notice)
    log = Path(settings.state_dir) / "logs" / "worker.log"
    assert notice.level == "error" and str(log) in notice.text
    assert "AssertionError" in notice.text
    await events.wait_for(p.SessionLoaded)
    assert not events.of(p.WorkerDown)
    await worker.close()
    text = log.read_text()
    assert "Traceback" in text and "LoadOlder failed" in text


async def test_a_crash_leaves_a_redacted_traceback_and_says_where(settings, fake_openai):
    password = "hunter2-DoNotLog"
    url = fake_openai.url.replace("http://", f"http://me:{password}@")
    key = "sk-live-DoNotLogMe-0123456789abcdef"
    worker, events = started(replace(settings, base_url=url, api_key=key))
    worker.send(p.SendMessage("hello"))
    await events.wait_for(p.ReplyDone)
    worker._writer.write(struct.pack(">I", 5) + b"junk!")  # a frame that is no pickle
    down = await events.wait_for(p.WorkerDown)
    log = Path(settings.state_dir) / "logs" / "worker.log"
    assert "exit code 1" in down.reason and str(log) in down.reason
    await events.wait_for(p.SessionLoaded, 2)
    await worker.close()
    text = log.read_text()
    assert "the worker crashed" in text and "Traceback" in text and "Unpickling" in text
    assert password not in text and key not in text and "DoNotLog" not in text


LIAR = """
import struct, sys, time
body = b"not a pickle"
sys.stdout.buffer.write(struct.pack(">I", len(body)) + body)
sys.stdout.buffer.flush()
time.sleep(60)
"""


async def test_events_that_cannot_be_read_are_said_and_a_new_worker_takes_over(settings):
    """The UI's end of a frame that does not unpickle: the pump does not go quiet."""
    liar = subprocess.Popen(
        [sys.executable, "-c", LIAR], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    events = Events()
    worker = SubprocessLink(liar)
    worker.start(events)
    worker.send(p.Start(settings))
    down = await events.wait_for(p.WorkerDown)
    assert "events could not be read" in down.reason and "UnpicklingError" in down.reason
    assert liar.poll() is not None  # ended: its stream is not trusted any further
    await events.wait_for(p.SessionLoaded)  # a real worker, started where the first was asked
    worker.send(p.SendMessage("still listening"))
    assert (await events.wait_for(p.ReplyDone)).message.content == "Echo: still listening"
    await worker.close()
    assert len(events.of(p.WorkerDown)) == 1
