"""Memory through the worker: extraction scripted on the fake server, recall in the next request."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from chatmem import protocol as p
from chatmem.store.profile import Profile
from tests.conftest import settings_for
from tests.fake_openai import Error, FakeOpenAI, Reply
from tests.harness import FIXED_TIME, WorkerHarness

SISTER = {
    "memories": [
        {
            "action": "add",
            "type": "person",
            "target": "",
            "fields": {"name": "Anna", "relation": "sister", "details": "lives in Lisbon, paints"},
        },
        {
            "action": "add",
            "type": "event",
            "fields": {"note": "Anna's exhibition", "dates": ["tomorrow"]},
        },
    ]
}


async def started(settings, day: int = 0, **kwargs) -> WorkerHarness:
    h = WorkerHarness(settings)
    h.worker.clock = lambda: FIXED_TIME + day * 86400
    await h.request(p.Start(settings, **kwargs))
    return h


def memory_sent(request) -> str:
    return request.memory


async def test_told_about_a_sister_one_day_asked_about_her_the_next(settings, fake_openai):
    fake_openai.script_completion(Reply(json.dumps(SISTER)))
    h = await started(settings)
    await h.request(p.SendMessage("My sister Anna lives in Lisbon; her exhibition opens tomorrow."))
    changed = h.of(p.MemoryChanged)
    assert [(c.verb, c.kind, c.title) for c in changed] == [
        ("Remembered", "person", "Anna"),
        ("Remembered", "event", "Anna's exhibition"),
    ]
    extraction = fake_openai.completion_requests()[0]
    assert extraction.body["response_format"]["type"] == "json_schema"
    fake_openai.script_completion(Reply("Today the user told me about Anna, their sister."))
    await h.request(p.Shutdown())  # the journal entry is written on the way out
    await h.close()

    h = await started(settings, day=1, new_session=True)
    await h.request(p.SendMessage("What could I bring my sister Anna?"))
    prompt = memory_sent(fake_openai.chat_requests()[-1])
    assert "Anna (sister)" in prompt and "Lisbon" in prompt
    assert "2026-09-22" in prompt  # "tomorrow", said on 2026-09-21
    assert "Today the user told me about Anna" in prompt  # the journal of the last session
    assert "My sister Anna lives in Lisbon" in prompt  # the earlier message itself
    used = h.last(p.RecallUsed)
    assert {"person", "event", "conversation", "message"} <= {item.kind for item in used.items}
    assert used.tokens <= settings.memory_budget
    await h.close()


async def test_malformed_or_empty_extraction_changes_nothing(settings, fake_openai):
    fake_openai.script_completion(
        Reply("I think you like tea {not json"), Reply('{"memories": []}')
    )
    h = await started(settings)
    await h.request(p.SendMessage("I like tea."))
    await h.request(p.SendMessage("And biscuits."))
    assert not h.of(p.MemoryChanged)
    assert len(h.worker.memory.store) == 1  # the assistant's self only
    await h.close()


async def test_a_contradiction_supersedes_and_undo_restores(settings, fake_openai):
    h = await started(settings)
    await h.request(p.Remember("I live in Berlin"))
    old_id = next(m.id for m in h.worker.memory.store if m.kind == "fact")
    moved = {
        "memories": [
            {
                "action": "supersede",
                "type": "fact",
                "target": old_id,
                "fields": {"note": "I live in Madrid"},
            }
        ]
    }
    fake_openai.script_completion(Reply(json.dumps(moved)))
    await h.request(p.SendMessage("I moved to Madrid last month."))
    change = h.last(p.MemoryChanged)
    assert change.verb == "Superseded"
    store = h.worker.memory.store
    assert store.get(old_id).superseded_by  # kept, marked, not deleted
    await h.request(p.SendMessage("Where do I live?"))
    prompt = memory_sent(fake_openai.chat_requests()[-1])
    assert "Madrid" in prompt and "Berlin" not in prompt
    await h.request(p.Undo(change.change_id))
    assert not store.get(old_id).superseded_by
    assert not any("Madrid" in m.text() for m in store)
    await h.close()


async def test_remember_and_forget_by_words_or_id(settings):
    h = await started(settings)
    await h.request(p.Remember("My bike is a green Brompton"))
    await h.request(p.Remember("I am allergic to peanuts"))
    await h.request(p.Forget("bike"))
    assert h.last(p.MemoryChanged).verb == "Forgot"
    notes = [m.fields.get("note") for m in h.worker.memory.store if m.kind == "fact"]
    assert notes == ["I am allergic to peanuts"]
    await h.request(p.Forget("nothing like this"))
    assert "No memory matches" in h.last(p.Notice).text
    await h.close()
    with Profile.open(settings.data_dir, settings.profile) as profile:  # it was on disk
        assert [m.fields.get("note") for m in profile.memories if m.kind == "fact"] == notes


async def test_llama_cpp_rejecting_json_schema_falls_back_to_json_mode(tmp_path):
    with FakeOpenAI(flavor="llama.cpp") as server:
        settings = settings_for(tmp_path, server.url)
        server.script_completion(Reply(json.dumps(SISTER)))
        h = await started(settings)
        await h.request(p.SendMessage("My sister Anna lives in Lisbon."))
        kinds = [
            r.body.get("response_format", {}).get("type") for r in server.completion_requests()
        ]
        assert kinds == ["json_schema", "json_object"]
        assert h.last(p.MemoryChanged).title in ("Anna", "Anna's exhibition")
        await h.close()


async def test_a_journal_the_model_could_not_write_is_written_at_the_next_start(
    settings, fake_openai
):
    settings = replace(settings, concurrency=4)  # as a hosted API: journaled at quit
    fake_openai.script_completion(Reply('{"memories": []}'), Error(503))
    h = await started(settings)
    await h.request(p.SendMessage("Let's plan the trip."))
    ended = h.worker.session.id
    await h.request(p.Shutdown())
    await h.close()
    with Profile.open(settings.data_dir, settings.profile) as profile:
        assert not any(m.kind == "conversation" for m in profile.memories)

    fake_openai.script_completion(Reply("We planned the trip."))
    h = await started(settings, new_session=True)
    journal = [m for m in h.worker.memory.store if m.kind == "conversation"]
    assert [m.fields["session_id"] for m in journal] == [ended]
    await h.close()


async def session_at_quit(settings, fake, said: str, journal: str, **start) -> str:
    """A session (new, or resumed with ``session_id``) told ``said``, then the app quits;
    the model will find nothing to learn and journal it as ``journal``. Its id."""
    fake.script_completion(Reply('{"memories": []}'), Reply(journal))
    h = await started(settings, **start)
    await h.request(p.SendMessage(said))
    await h.request(p.Shutdown())
    await h.close()
    return h.worker.session.id


async def test_a_resumed_session_is_journaled_again_with_what_it_added(settings, fake_openai):
    settings = replace(settings, concurrency=4)  # as a hosted API: journaled at quit
    trip = await session_at_quit(
        settings, fake_openai, "Let's plan a trip to Porto.", "We planned a trip to Porto."
    )
    fake_openai.script_completion(
        Reply('{"memories": []}'), Reply("We planned a trip to Porto by train.")
    )
    h = await started(settings, day=1, session_id=trip)  # resumed the next day
    await h.request(p.SendMessage("Shall we take the train?"))
    await h.request(p.EndSession())  # it ends: its entry is carried on
    journal = [m for m in h.worker.memory.store if m.kind == "conversation"]
    assert [(m.fields["session_id"], m.fields["summary"]) for m in journal] == [
        (trip, "We planned a trip to Porto by train.")
    ]
    assert (h.last(p.MemoryChanged).verb, h.last(p.MemoryChanged).kind) == (
        "Updated",
        "conversation",
    )
    asked = [r for r in fake_openai.requests if r.kind == "journal"][-1].said[-1]
    assert asked.startswith("Your entry so far:\nWe planned a trip to Porto.")
    assert "Shall we take the train?" in asked and "Let's plan" not in asked  # only what is new
    await h.close()

    journal = "We planned a trip to Porto by train, in May."
    await session_at_quit(
        settings, fake_openai, "Let's go in May.", journal, day=2, session_id=trip
    )
    with Profile.open(settings.data_dir, settings.profile) as profile:
        (entry,) = [m for m in profile.memories if m.kind == "conversation"]
        messages, _ = profile.sessions.recent(trip, 10)
    assert entry.fields["summary"] == journal  # written at quit, as the first was
    assert entry.message_ids == (messages[-1].id,)  # what it covers: up to the last reply


async def test_a_resumed_session_left_at_quit_is_journaled_again_at_the_next_start(
    settings, fake_openai
):
    settings = replace(settings, concurrency=1)  # as a local server: the journal waits
    tea = await session_at_quit(settings, fake_openai, "I like green tea.", "We talked about tea.")
    h = await started(settings, day=1, new_session=True)  # journals the tea session
    await h.close()
    journal = "We talked about tea, then coffee."
    await session_at_quit(settings, fake_openai, "And coffee?", journal, day=2, session_id=tea)

    h = await started(settings, day=3, new_session=True)
    (entry,) = [m for m in h.worker.memory.store if m.kind == "conversation"]
    assert entry.fields["summary"] == journal
    await h.close()


def embedded_texts(server: FakeOpenAI) -> list[str]:
    """What was embedded (an embedding request a reply stopped half-sent has no body)."""
    return [text for r in server.embedding_requests() if r.body for text in r.body["input"]]


async def test_meaning_recalls_what_shares_no_word_with_the_question(settings, fake_openai):
    h = await started(settings)
    await h.request(p.Remember("My sister Anna paints landscapes"))
    await h.request(p.Remember("I keep bees on the roof"))
    assert any("Anna paints landscapes" in text for text in embedded_texts(fake_openai))
    await h.request(p.SendMessage("Who is the artist among my siblings?"))
    prompt = memory_sent(fake_openai.chat_requests()[-1])
    assert "Anna paints landscapes" in prompt and "bees" not in prompt
    assert h.last(p.RecallUsed).semantic
    inputs = [r.body["input"] for r in fake_openai.embedding_requests() if r.body]
    assert ["Who is the artist among my siblings?"] in inputs  # the query, on its own
    assert "Echo: Who is the artist among my siblings?" in embedded_texts(fake_openai)  # the turns
    await h.close()

    # The vectors were stored: a new start embeds nothing again; an edit is embedded anew.
    first = embedded_texts(fake_openai)
    h = await started(settings, new_session=True)  # embeds the journal entry of the first session
    again = embedded_texts(fake_openai)[len(first) :]
    assert len(again) == 1 and again[0] not in first
    await h.request(p.Remember("My brother Tom is a painter"))
    added = embedded_texts(fake_openai)[len(first) + len(again) :]
    assert [text.startswith("My brother Tom") for text in added] == [True]
    await h.close()


async def test_an_earlier_message_is_recalled_by_meaning(settings, fake_openai):
    h = await started(settings)
    await h.request(p.SendMessage("Anna paints"))
    await h.close()
    h = await started(settings, day=1, new_session=True)
    stored = list(Path(settings.data_dir).rglob("vectors/*/turns/shard-*.json"))
    assert "Anna paints" not in "".join(path.read_text() for path in stored)  # vectors only
    await h.request(p.SendMessage("Which artist?"))  # no word in common
    prompt = memory_sent(fake_openai.chat_requests()[-1])
    assert "From earlier conversations" in prompt and "Anna paints" in prompt
    recalled = [item for item in h.last(p.RecallUsed).items if item.kind == "message"]
    assert recalled and h.last(p.RecallUsed).semantic
    turns = h.worker.memory.embeddings.turns
    first = h.worker.memory.recall.turns[recalled[0].id].session_id
    assert recalled[0].id in turns.made_from
    await h.request(p.DeleteSession(first))  # its messages' vectors go with it
    assert recalled[0].id not in turns.made_from and recalled[0].id not in turns.index.rows
    await h.close()


async def test_vectors_of_memories_deleted_behind_the_workers_back_are_dropped(
    settings, fake_openai
):
    h = await started(settings)
    await h.request(p.Remember("My sister Anna paints landscapes"))
    await h.request(p.Remember("I keep bees on the roof"))
    bees = next(m.id for m in h.worker.memory.store if "bees" in m.text())
    anna = next(m.id for m in h.worker.memory.store if "Anna" in m.text())
    await h.close()
    with Profile.open(settings.data_dir, "default") as profile:  # as `chatmem memories rm` does
        profile.memories.delete(bees)
    h = await started(settings)
    embeddings = h.worker.memory.embeddings
    assert anna in embeddings.memories.made_from and bees not in embeddings.memories.made_from
    await h.close()
    stored = Path(settings.data_dir).rglob("vectors/*/shard-*.json")
    vectors = "".join(path.read_text() for path in stored)
    assert anna in vectors and bees not in vectors


async def test_without_embeddings_recall_is_lexical_and_nothing_fails(tmp_path):
    with FakeOpenAI(flavor="llama.cpp") as server:  # answers /v1/embeddings with 404
        h = await started(settings_for(tmp_path, server.url))
        await h.request(p.Remember("My sister Anna paints landscapes"))
        await h.request(p.SendMessage("Who is the artist among my siblings?"))
        await h.request(p.SendMessage("Does my sister Anna still paint?"))
        assert h.worker.memory.embeddings.served is False
        assert len(server.embedding_requests()) == 1  # asked once, then left alone
        assert "Anna paints" not in memory_sent(server.chat_requests()[0])
        assert "Anna paints" in memory_sent(server.chat_requests()[1])
        assert not h.of(p.ReplyFailed) and not h.last(p.RecallUsed).semantic
        await h.close()


async def test_embedding_off_in_the_settings_asks_for_none(tmp_path, fake_openai):
    settings = replace(settings_for(tmp_path, fake_openai.url), embedding_model="off")
    h = await started(settings)
    await h.request(p.Remember("My sister Anna paints landscapes"))
    await h.request(p.SendMessage("Who is the artist among my siblings?"))
    assert fake_openai.embedding_requests() == []
    await h.close()
