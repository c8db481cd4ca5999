"""Token counts: the server's own where it can count, else the estimate calibrated by usage."""

from __future__ import annotations

from dataclasses import replace

from chatmem import protocol as p
from chatmem.llm.tokenize import TOKENIZE_TIMEOUT, ServerCounter
from tests.conftest import settings_for
from tests.fake_openai import FakeOpenAI, Reply
from tests.harness import WorkerHarness

WORDY = " ".join(f"{i}." for i in range(400))  # 800 tokens to the fake llama.cpp, ~470 guessed


async def started(settings) -> WorkerHarness:
    h = WorkerHarness(settings)
    await h.request(p.Start(settings))
    return h


def local(tmp_path, url: str):
    return replace(settings_for(tmp_path, url), model="smol-model", api_key="")


def between_replies(server: FakeOpenAI) -> list[list[str]]:
    """The paths asked before each chat request, since the one before it."""
    turns: list[list[str]] = [[]]
    for r in server.requests:
        if r.kind == "chat":
            turns.append([])
        elif r.path in ("/tokenize", "/props"):
            turns[-1].append(r.path)
    return turns


async def test_llama_cpp_counts_exactly_in_two_calls_a_turn(tmp_path):
    with FakeOpenAI(flavor="llama.cpp", models=["smol-model"]) as server:
        h = await started(local(tmp_path, server.url))
        assert h.last(p.UsageUpdated).usage.counting == "estimate"  # not asked before a reply
        for i in range(3):
            await h.request(p.SendMessage(f"{i} {WORDY}"))
        counter = h.worker.counter
        assert counter.count(f"0 {WORDY}") == 801  # the server's count, not the estimate's
        usage = h.last(p.UsageUpdated).usage
        assert usage.counting == "server" and not usage.estimated  # no "≈" in the sidebar
        turns = between_replies(server)
        # the probe ("" and "hi"), then the system prompt, the memory and the question
        assert turns[0].count("/tokenize") == 5
        # later: the reply, once it is done; then the question and its memory if it changed
        assert all(t.count("/tokenize") <= 3 for t in turns[1:]) and turns[-1] == ["/tokenize"]
        await h.close()


async def test_a_slow_tokenizer_never_holds_the_reply(tmp_path):
    delay = TOKENIZE_TIMEOUT * 3
    with FakeOpenAI(flavor="llama.cpp", models=["smol-model"], tokenize_delay=delay) as server:
        h = await started(local(tmp_path, server.url))
        await h.request(p.SendMessage(WORDY))
        assert h.last(p.ReplyDone).message.status == "ok"
        asked = [r for r in server.requests if r.path == "/tokenize"]
        chat = server.chat_requests()[0]
        assert asked and all(chat.started < (r.ended or chat.started + 1) for r in asked)
        assert h.last(p.UsageUpdated).usage.estimated  # no count came in time
        await h.close()


async def test_a_server_that_cannot_count_calibrates_the_estimate(tmp_path, fake_openai):
    settings = replace(local(tmp_path, fake_openai.url), model="test-model", memory_budget=0)
    h = await started(settings)
    counter = h.worker.counter
    raw, system = counter.count(WORDY), counter.count(h.worker.chat.system)
    fake_openai.script(Reply("Noted.", usage=(10_000, 2)))  # absurd: ignored, not learnt
    await h.request(p.SendMessage(WORDY))
    assert h.last(p.UsageUpdated).usage.counting == "estimate"
    guessed = system + 2 * raw + counter.count("Noted.")  # the second request's text
    fake_openai.script(Reply("Noted again.", usage=(2 * guessed + 4 * 4 + 3, 3)))
    await h.request(p.SendMessage(WORDY))
    usage = h.last(p.UsageUpdated).usage
    assert usage.counting == "calibrated" and usage.estimated  # still an estimate: "≈"
    assert abs(counter.ratio - 2) < 0.05
    assert h.worker.counter.count(WORDY) > 1.5 * raw
    tokenize = [r for r in fake_openai.requests if "tokenize" in r.path]
    assert len(tokenize) == 3  # one probe of each kind, then never again
    await h.close()


async def test_openai_is_not_probed(tmp_path, fake_openai):
    from chatmem.llm.client import LLM

    llm = LLM(settings_for(tmp_path, fake_openai.url))
    counter = ServerCounter("gpt-4o-mini", fake_openai.url, probe=False)  # as for OpenAI's API
    await counter.learn(llm, ["hello"])
    assert not fake_openai.requests and counter.counting == "tiktoken"
    await llm.close()
