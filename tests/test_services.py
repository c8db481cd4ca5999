"""The services alone: real TinyDB profiles in tmp dirs, no worker, no Textual. They return
what changed or raise typed errors; they emit nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatmem import protocol as p
from chatmem.domain.records import MAX_FILE
from chatmem.services.errors import (
    Invalid,
    NotFound,
    NothingToDo,
    NotSaved,
    Refused,
    Unchanged,
    Unreadable,
)
from chatmem.services.memories import Changed, MemoryService, open_profile
from chatmem.services.profiles import Unopenable, open_any, open_writable
from chatmem.services.sessions import SessionService
from chatmem.store.profile import Profile, ReadOnly
from tests.harness import FIXED_TIME, WorkerHarness
from tests.seed import seed

PERSON = {"name": "Ann", "relation": "sister"}


@pytest.fixture
def opened(settings):
    seed(settings)
    profile, memories = open_profile(Path(settings.data_dir), "default", lambda: FIXED_TIME)
    yield profile, memories, SessionService(profile, memories)
    memories.close()
    profile.close()


def test_a_change_is_returned_and_undone(opened):
    profile, memories, _ = opened
    (added,) = memories.remember("  I keep bees ")
    assert isinstance(added, Changed) and (added.verb, added.kind) == ("Remembered", "fact")
    assert profile.memories.get(added.memory_id).fields["note"] == "I keep bees"
    (undone,) = memories.undo(added.change_id)
    assert (undone.verb, undone.memory_id) == ("Undone", added.memory_id)
    assert profile.memories.get(added.memory_id) is None
    with pytest.raises(NothingToDo, match="Nothing to undo"):
        memories.undo(added.change_id)
    with pytest.raises(NothingToDo, match="Say what to remember"):
        memories.remember("  ")


def test_there_is_one_self_and_it_keeps_its_relation(opened):
    profile, memories, _ = opened
    me = next(m for m in profile.memories if m.is_self)
    with pytest.raises(Invalid) as refused:
        memories.save("", "person", {"name": "Bo", "relation": "self"})
    assert refused.value.problems == (("relation", "only the assistant has the relation 'self'."),)
    values = {"name": "Ada", "relation": "friend"}
    with pytest.raises(Invalid, match="relation: the assistant's own record keeps"):
        memories.save(me.id, "person", values)
    assert [m.id for m in profile.memories if m.is_self] == [me.id]
    assert profile.memories.get(me.id).fields["name"] == me.fields["name"]  # nothing saved
    changes = memories.save(me.id, "person", {**values, "relation": "self"})
    assert [c.verb for c in changes] == ["Updated"]
    notes = [m.fields.get("note") for m in profile.memories if m.kind == "event"]
    assert f"My name changed from {me.fields['name']} to Ada." in notes
    with pytest.raises(Refused, match="cannot be deleted"):
        memories.delete(me.id)
    with pytest.raises(Unchanged):
        memories.save(me.id, "person", {**values, "relation": "self"})


def test_bad_fields_are_listed_and_nothing_is_saved(opened):
    profile, memories, _ = opened
    before = len(profile.memories)
    with pytest.raises(Invalid) as refused:
        memories.save("", "person", {"name": " ", "alive": "maybe"})
    assert [key for key, _ in refused.value.problems] == ["name", "alive"]
    with pytest.raises(NotFound):
        memories.save("m-gone", "fact", {"note": "x"})
    journal = next(m for m in profile.memories if m.kind == "conversation")
    with pytest.raises(Refused, match="Journal entries"):
        memories.save(journal.id, "conversation", {"summary": "rewritten"})
    assert len(profile.memories) == before


def test_pin_twice_writes_once_and_forget_finds_by_words(opened):
    profile, memories, _ = opened
    (added,) = memories.save("", "person", PERSON)
    assert [c.verb for c in memories.pin(added.memory_id, True)] == ["Pinned"]
    assert memories.pin(added.memory_id, True) == []
    assert profile.memories.get(added.memory_id).pinned
    (forgot,) = memories.forget("Ann")
    assert (forgot.verb, forgot.memory_id) == ("Forgot", added.memory_id)
    with pytest.raises(NotFound, match="No memory matches 'zebras'"):
        memories.forget("zebras")


def test_sessions_rename_delete_and_their_errors(opened, tmp_path):
    profile, memories, sessions = opened
    assert sessions.rename("s-bees", "  Bees   and honey ").title == "Bees and honey"
    learnt = len(memories.learnt_in("s-lisbon"))
    assert learnt
    gone = sessions.delete("s-lisbon", with_memories=True)
    assert (gone.info.id, gone.forgot) == ("s-lisbon", learnt)
    assert not memories.learnt_in("s-lisbon") and profile.sessions.get("s-lisbon") is None
    with pytest.raises(NotFound, match="no longer stored"):
        sessions.rename("s-lisbon", "x")
    with pytest.raises(NotFound):
        sessions.delete("s-lisbon", with_memories=False)
    target = sessions.export("s-bees", str(tmp_path / "bees.json"))
    with pytest.raises(Refused, match="exists already"):
        sessions.export("s-bees", str(target))
    inside_a_file = str(target / "again.md")  # a file is no folder (root writes anywhere)
    with pytest.raises(NotSaved) as failed:
        sessions.export("s-bees", inside_a_file)
    assert failed.value.path == inside_a_file and failed.value.level == "error"
    (info,) = [sessions.import_file(str(target))]
    assert info.id != "s-bees" and len(profile.sessions.messages(info.id)) == 2
    assert [r.session.id for r in sessions.list().rows].count(info.id) == 1


def test_an_import_past_the_size_limit_is_refused_before_it_is_read(opened, tmp_path):
    _, _, sessions = opened
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:  # sparse: no disk used
        f.truncate(MAX_FILE + 1)
    with pytest.raises(Unreadable, match="larger than 200 MB"):
        sessions.import_file(str(huge))
    with pytest.raises(Unreadable, match="Could not read"):
        sessions.import_file(str(tmp_path / "missing.json"))


def test_the_rules_need_no_index(settings):
    """The headless commands build the service on the store alone (no ``load``)."""
    seed(settings)
    with Profile.open(Path(settings.data_dir), "default") as profile:
        memories = MemoryService(profile.memories, profile.sessions, lambda: FIXED_TIME)
        (added,) = memories.save("", "fact", {"note": "I keep bees"})
        memories.delete(added.memory_id)
        assert profile.memories.get(added.memory_id) is None


async def test_the_app_refuses_a_second_self_as_the_cli_does(settings):
    h = WorkerHarness(settings)
    await h.request(p.Start(settings))
    values = (("name", "Bo"), ("relation", "self"))
    await h.request(p.SaveMemory("", "person", values))
    problems = h.last(p.MemoryInvalid).problems
    assert problems == (("relation", "only the assistant has the relation 'self'."),)
    assert sum(m.is_self for m in h.worker.memory.store) == 1
    await h.request(p.Undo("no-such-change"))
    assert h.last(p.Notice) == p.Notice(
        "information", "Nothing to undo.", h.last(p.Notice).request_id
    )
    await h.close()


def test_a_locked_profile_opens_to_read_with_the_reason(settings):
    seed(settings)
    with Profile.open(Path(settings.data_dir), "default"):  # another chatmem has it
        with pytest.raises(Unopenable) as refused:
            open_writable(settings.data_dir, "default", lambda: FIXED_TIME)
        opened = open_any(settings.data_dir, "default", lambda: FIXED_TIME)
        try:
            assert opened.readonly == refused.value.reason and "open in another" in opened.readonly
            assert opened.sessions.get("s-lisbon").title == "Lisbon plans"
            with pytest.raises(ReadOnly):
                opened.memory.remember("I keep bees")
        finally:
            opened.close()
    opened = open_writable(settings.data_dir, "default", lambda: FIXED_TIME)
    assert opened.readonly == "" and opened.name == "default"
    opened.close()


def test_every_request_has_one_route():
    """The worker is a table: each request type names its handler and how it runs."""
    from typing import get_args

    from chatmem.worker.core import ROUTES, TASK, TURN

    assert set(ROUTES) == set(get_args(p.Request))
    assert {how for _, how in ROUTES.values()} <= {"now", TASK, TURN}


def test_a_reply_takes_the_servers_counts_where_it_gives_them():
    from chatmem.domain.tokens import TokenCounter
    from chatmem.llm.client import Finish
    from chatmem.services.chat import Ending, reply_of

    counter = TokenCounter("gpt-4o-mini")
    user = p.ChatMessage("u1", "user", "Hello", FIXED_TIME)
    whole = Ending(user, "r1", ("Hi ", "there"), Finish("stop", 12, 3), 40, "ok")
    reply = reply_of(whole, counter, FIXED_TIME + 1)
    assert (reply.id, reply.content, reply.status) == ("r1", "Hi there", "ok")
    assert (reply.prompt_tokens, reply.completion_tokens, reply.created) == (12, 3, FIXED_TIME + 1)
    cut = reply_of(Ending(user, "r2", ("Hi ",), None, 40, "cut"), counter, FIXED_TIME)
    assert (cut.status, cut.prompt_tokens, cut.completion_tokens) == (
        "cut",
        40,
        counter.count("Hi "),
    )


def test_usage_counts_the_context_and_the_sessions_tokens():
    from chatmem.domain.tokens import TokenCounter
    from chatmem.llm.models import ModelInfo
    from chatmem.services.chat import Context, usage_of

    counter = TokenCounter("gpt-4o-mini")
    model = ModelInfo("gpt-4o-mini", 1000, 100, None, None, False)
    said = [
        p.ChatMessage("u1", "user", "Hello", FIXED_TIME, 5),
        p.ChatMessage(
            "a1", "assistant", "Hi", FIXED_TIME, 4, prompt_tokens=20, completion_tokens=2
        ),
    ]
    usage = usage_of(Context("Be kind.", "", 0, said, ""), model, counter, (20, 2), (20, 2))
    assert (usage.model, usage.verbatim_messages, usage.turn_tokens) == ("gpt-4o-mini", 2, (22,))
    assert usage.context_tokens > 0 and (usage.session_prompt, usage.last_completion) == (20, 2)
    unnamed = usage_of(Context("", "earlier", 1, said, ""), model, counter, (0, 0), named=False)
    assert (unnamed.model, unnamed.summarized_messages, unnamed.verbatim_messages) == ("", 1, 1)


async def test_a_fold_says_each_step_and_stores_the_summary(opened, settings, fake_openai):
    from chatmem.domain.context import Thresholds
    from chatmem.domain.tokens import TokenCounter
    from chatmem.llm.client import LLM
    from chatmem.llm.models import ModelInfo
    from chatmem.services import chat
    from tests.fake_openai import Error

    profile, _, _ = opened
    history = profile.sessions.messages("s-lisbon")  # two questions with their answers
    model = ModelInfo("gpt-4o-mini", 128000, 1000, None, None, False)
    context = chat.Context("Be kind.", "", 0, history, "")
    counter, limits = TokenCounter("gpt-4o-mini"), Thresholds(10**9, 3)
    llm = LLM(settings)
    try:
        folding = chat.fold(llm, model, "a running summary", context, counter, limits,
                            profile.sessions, "s-lisbon")  # fmt: skip
        steps = [step async for step in folding]
        assert [type(s) for s in steps] == [chat.Folding, chat.Folded]
        assert steps[0].count == 2 and steps[1].folded == 2  # whole turns only
        assert profile.sessions.summary("s-lisbon") == (steps[1].summary, 2)
        fake_openai.script_completion(Error(500, times=3))
        again = chat.fold(llm, model, "a running summary", context, counter, limits,
                          profile.sessions, "s-lisbon")  # fmt: skip
        assert [type(s) async for s in again] == [chat.Folding, chat.NotFolded]
        assert profile.sessions.summary("s-lisbon") == (steps[1].summary, 2)  # kept
    finally:
        await llm.close()


def test_the_session_to_show(opened):
    profile, _, sessions = opened
    latest = profile.sessions.latest()
    assert sessions.to_show(FIXED_TIME, "s-lisbon").id == "s-lisbon"
    assert sessions.to_show(FIXED_TIME, "s-gone") == latest
    shown = sessions.to_show(FIXED_TIME, new=True, readonly=True)
    assert shown.message_count == 0 and profile.sessions.get(shown.id) is None  # not stored
    made = sessions.to_show(FIXED_TIME, new=True)
    assert profile.sessions.get(made.id) == made
