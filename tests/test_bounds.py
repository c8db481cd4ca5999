"""Background requests are bounded: max_tokens per kind, inputs fitted to the window, and an
answer that runs to its limit or loops is dropped, not stored."""

from __future__ import annotations

import json
from dataclasses import replace

from chatmem import protocol as p
from chatmem.domain.context import (
    EXTRACT_TOKENS,
    FOLD_TOKENS,
    JOURNAL_TOKENS,
    TITLE_TOKENS,
    leading,
    looping,
)
from tests.fake_openai import Hang, Reply
from tests.harness import WorkerHarness

FACT = json.dumps({"memories": [{"action": "add", "type": "fact", "fields": {"note": "tea"}}]})


async def started(settings, **kwargs) -> WorkerHarness:
    h = WorkerHarness(settings)
    await h.request(p.Start(settings, **kwargs))
    return h


def test_repetition_is_told_from_prose():
    assert looping("I went to the market today. " * 3)
    assert looping("- the user likes green tea a lot\n" * 3)
    assert not looping("The user likes tea. They went home. The user likes coffee too, now.")
    assert not looping("ha ha")


def test_leading_takes_what_fits_and_at_least_one():
    assert leading([5, 5, 5], 10) == 2
    assert leading([50, 5], 10) == 1
    assert leading([], 10) == 0


async def test_every_background_request_carries_its_max_tokens(settings, fake_openai):
    h = await started(replace(settings, fold_at_messages=4))
    for i in range(3):
        await h.request(p.SendMessage(f"turn {i}"))
    await h.request(p.EndSession())
    limits = {}
    for r in fake_openai.requests:
        if r.kind in ("title", "extract", "fold", "journal"):
            limits.setdefault(r.kind, set()).add(r.body.get("max_tokens"))
    assert limits == {
        "title": {TITLE_TOKENS},
        "extract": {EXTRACT_TOKENS},
        "fold": {FOLD_TOKENS},
        "journal": {JOURNAL_TOKENS},
    }
    await h.close()


async def test_an_extraction_cut_at_its_limit_stores_nothing(settings, fake_openai):
    fake_openai.script_completion(Reply(FACT, finish_reason="length"))
    h = await started(settings)
    await h.request(p.SendMessage("I like tea."))
    assert fake_openai.kinds()["extract"] == 1
    assert not h.of(p.MemoryChanged)
    await h.close()


async def test_a_looping_journal_entry_is_dropped_and_written_later(settings, fake_openai):
    h = await started(settings)
    await h.request(p.SendMessage("hello"))
    fake_openai.script_completion(Reply("We talked about tea and about the weather. " * 6))
    await h.request(p.EndSession())
    assert "written later" in h.last(p.Notice).text
    assert not [e for e in h.of(p.MemoryChanged) if e.kind == "conversation"]
    await h.close()


async def test_a_long_session_is_journaled_in_window_sized_parts(settings, fake_openai):
    h = await started(replace(settings, context_window=3000))
    for i in range(8):
        await h.request(p.SendMessage(f"part {i} " + "words and more words " * 60))
    fake_openai.script_completion(
        *(Reply(f"Part {i}: the user wrote many words.") for i in range(1, 9))
    )
    await h.request(p.EndSession())
    journals = [r for r in fake_openai.requests if r.kind == "journal"]
    assert len(journals) >= 2
    for r in journals:  # the fake counts four characters a token, like the app's estimate
        sent = sum(len(m["content"]) // 4 + 4 for m in r.body["messages"])
        assert sent + r.body["max_tokens"] <= 3000
    assert "Part 1: the user wrote many words." in journals[1].body["messages"][1]["content"]
    assert [e for e in h.of(p.MemoryChanged) if e.kind == "conversation"]
    await h.close()


async def test_a_title_is_asked_from_the_start_of_a_huge_exchange(settings, fake_openai):
    h = await started(settings)
    await h.request(p.SendMessage("pasted " * 5000))
    (title,) = [r for r in fake_openai.requests if r.kind == "title"]
    assert len(title.body["messages"][1]["content"]) < 4000
    await h.close()


async def test_a_background_request_that_times_out_is_not_retried(settings, fake_openai):
    h = await started(replace(settings, request_timeout=0.5, max_retries=2))
    fake_openai.script_completion(Hang(2))
    await h.request(p.SendMessage("I like tea."))
    assert fake_openai.kinds()["extract"] == 1
    await h.close()
