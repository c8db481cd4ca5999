"""Conversation-shaped requests: folds at turn boundaries, roles that alternate, a fold that
shows progress and stops on Cancel."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from itertools import pairwise

from chatmem import protocol as p
from tests.fake_openai import Cut, Hang, Reply
from tests.harness import WorkerHarness


async def started(settings) -> WorkerHarness:
    h = WorkerHarness(settings)
    await h.request(p.Start(settings))
    return h


def roles(request) -> list[str]:
    return [m["role"] for m in request.body["messages"]]


def alternating(request) -> bool:
    said = roles(request)[1:]
    return said[0] == "user" and all(a != b for a, b in pairwise(said))


async def test_a_fold_says_what_it_summarizes_and_keeps_whole_turns(settings, fake_openai):
    h = await started(replace(settings, fold_at_messages=5))
    for i in range(4):
        await h.request(p.SendMessage(f"turn {i}"))
    folding, folded = h.of(p.Folding), h.of(p.ContextFolded)
    assert folding and folded
    assert all(f.count % 2 == 0 for f in folding)  # questions with their answers
    (fold,) = [r for r in fake_openai.requests if r.kind == "fold"][:1]
    sent = fold.body["messages"][1]["content"]
    assert sent.rstrip().split("\n")[-1].startswith("Assistant:")
    for request in fake_openai.chat_requests():
        assert alternating(request)
    await h.close()


async def test_cancel_stops_a_fold_and_keeps_the_message(settings, fake_openai):
    h = await started(replace(settings, fold_at_messages=4))
    for i in range(2):
        await h.request(p.SendMessage(f"turn {i}"))
    fake_openai.script_completion(Hang(10))
    send = p.SendMessage("turn 2")
    await h.worker.handle(send)
    for _ in range(200):
        if h.of(p.Folding):
            break
        await asyncio.sleep(0.01)
    assert h.last(p.Folding).request_id == send.id
    await h.request(p.Cancel(send.id))
    failed = h.last(p.ReplyFailed)
    assert failed.error.kind == "stopped" and failed.request_id == send.id
    assert [r.said[-1] for r in fake_openai.chat_requests()] == [
        "turn 0",
        "turn 1",
    ]
    assert h.worker.history[-1].content == "turn 2" and h.worker.history[-1].status == "failed"
    await h.close()


async def test_after_a_cut_reply_and_resend_no_two_replies_go_out_in_a_row(settings, fake_openai):
    h = await started(settings)
    fake_openai.script(Cut("half an answer that was cut", after=2), Reply("whole"))
    await h.request(p.SendMessage("question"))
    await h.request(p.Resend(h.last(p.ReplyFailed).user_message_id))
    await h.request(p.SendMessage("next"))
    last = fake_openai.chat_requests()[-1]
    assert roles(last) == ["system", "user", "assistant", "user"]
    assert last.said[1:] == ["question", "whole", "next"]
    await h.close()


async def test_what_changes_every_turn_comes_after_a_stable_prefix(settings, fake_openai):
    h = await started(settings)
    await h.request(p.Remember("I keep bees on the roof"))
    await h.request(p.Remember("My sister Anna paints"))
    for question in ("How are my bees?", "What does Anna paint?", "Bees again?"):
        await h.request(p.SendMessage(question))
    requests = fake_openai.chat_requests()
    assert "bees" in requests[0].memory and "Anna" in requests[1].memory
    for before, after in pairwise(requests):  # all but the newest message is sent as before
        sent = after.body["messages"]
        assert sent[: len(before.said) - 1] == before.body["messages"][:-1]
        assert sent[len(before.said) - 1]["content"] == before.said[-1]
    await h.close()
