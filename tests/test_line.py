"""One request at a time toward a server that serves one at a time, the user's reply first."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from chatmem import protocol as p
from chatmem.config import Settings
from chatmem.services.line import Line
from tests.conftest import settings_for
from tests.fake_openai import FakeOpenAI
from tests.harness import WorkerHarness


class Job:
    """A background job that takes ``seconds`` and counts its starts."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.starts = 0
        self.running = asyncio.Event()

    async def __call__(self) -> str:
        self.starts += 1
        self.running.set()
        await asyncio.sleep(self.seconds)
        return "done"


async def test_a_job_waits_while_a_reply_is_on_the_line():
    line, job = Line(1), Job(0)
    async with line.reply():
        task = asyncio.create_task(line.run("title", job))
        await asyncio.sleep(0.05)
        assert job.starts == 0
    assert await task == "done" and job.starts == 1


async def test_a_reply_stops_a_running_job_which_starts_again_after():
    line, job = Line(1), Job(0.2)
    task = asyncio.create_task(line.run("extract", job))
    await job.running.wait()
    async with line.reply():
        await asyncio.sleep(0.05)
        assert not task.done() and job.starts == 1  # stopped, waiting for the line
    assert await task == "done" and job.starts == 2


async def test_a_wider_line_runs_jobs_beside_the_reply():
    line, first, second = Line(2), Job(0.2), Job(0.2)
    one = asyncio.create_task(line.run("journal", first))
    two = asyncio.create_task(line.run("title", second))
    await first.running.wait()
    async with line.reply():  # one job makes way, the other goes on
        await asyncio.sleep(0.05)
    await asyncio.gather(one, two)
    assert sorted((first.starts, second.starts)) == [1, 2]


async def test_a_cancelled_job_is_not_started_again():
    line, job = Line(1), Job(5)
    task = asyncio.create_task(line.run("journal", job))
    await job.running.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and job.starts == 1
    async with line.reply():
        pass


def test_concurrency_is_one_for_a_local_server_and_more_for_openai():
    assert Settings(base_url="http://127.0.0.1:8080/v1").effective_concurrency == 1
    assert Settings().effective_concurrency == 4
    assert Settings(base_url="http://127.0.0.1:8080/v1", concurrency=3).effective_concurrency == 3


async def test_against_a_server_that_serves_one_at_a_time_no_reply_is_cut(tmp_path):
    with FakeOpenAI(flavor="llama.cpp", one_at_a_time=True, chunk_delay=0.005) as server:
        settings = replace(settings_for(tmp_path, server.url), fold_at_messages=6)
        h = WorkerHarness(settings)
        await h.request(p.Start(settings))
        for i in range(5):  # each message sent the moment the reply before it is done
            done = len(h.of(p.ReplyDone))
            await h.worker.handle(p.SendMessage(f"message {i} " + "and more words " * 10))
            while len(h.of(p.ReplyDone)) == done and not h.of(p.ReplyFailed):
                await asyncio.sleep(0.005)
        await h.settle()
        assert not h.of(p.ReplyFailed)
        assert [e.message.status for e in h.of(p.ReplyDone)] == ["ok"] * 5
        kinds = server.kinds()
        assert kinds["chat"] == 5 and kinds["title"] >= 1 and kinds["extract"] >= 5
        await h.close()
