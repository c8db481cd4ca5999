"""Extraction a small model cannot poison: repaired JSON, no placeholders, no borrowed words."""

from __future__ import annotations

import json

from chatmem import protocol as p
from chatmem.domain.extract import Candidate, parse_candidates, plausible
from chatmem.domain.memories import make_memory
from chatmem.paths import resource_dir
from tests.fake_openai import Reply
from tests.harness import WorkerHarness

PROMPT = (resource_dir("prompts") / "extract.md").read_text(encoding="utf-8")
SAID = "I like green tea. My sister Anna visits on Friday."
REPLY = "Green tea helps you sleep better. Enjoy the visit!"


def fact(note: str) -> Candidate:
    return Candidate("add", "fact", {"note": note})


def test_json_a_small_model_got_almost_right_is_repaired():
    trailing = '{"memories": [{"action": "add", "type": "fact", "fields": {"note": "tea",}},]}'
    single = "Sure: {'memories': [{'action': 'add', 'type': 'fact', 'fields': {'note': 'tea'}}]}"
    cut = '{"memories": [{"action": "add", "type": "fact", "fields": {"note": "tea"}}'
    for answer in (trailing, single, cut):
        assert [c.fields["note"] for c in parse_candidates(answer)] == ["tea"], answer


def test_placeholders_empty_notes_and_the_prompts_examples_are_dropped():
    junk = [fact("..."), fact("…"), fact(""), fact("<the fact, in a short sentence>")]
    junk.append(Candidate("add", "person", {"name": "sister", "relation": "sister"}))
    assert plausible([*junk, fact("The user likes green tea")], PROMPT, SAID, REPLY) == [
        fact("The user likes green tea")
    ]


def test_the_assistants_sentences_and_unnamed_people_are_not_the_users_facts():
    borrowed = fact("Green tea helps you sleep better")
    invented = Candidate("add", "person", {"name": "Bob", "relation": "friend"})
    anna = Candidate("add", "person", {"name": "Anna", "relation": "sister"})
    assert plausible([borrowed, invented, anna], PROMPT, SAID, REPLY) == [anna]


def test_a_journal_entry_is_listed_on_one_line():
    entry = make_memory("conversation", {"summary": "Tea.\n\nThen\tcoffee.", "session_id": "s"}, 0)
    assert entry.title == "Tea. Then coffee."


async def test_a_small_models_answer_stores_only_what_the_user_said(settings, fake_openai):
    answer = {
        "memories": [
            {"action": "add", "type": "fact", "fields": {"note": "..."}},
            {"action": "add", "type": "fact", "fields": {"note": "Green tea helps you sleep"}},
            {"action": "add", "type": "person", "fields": {"name": "Bob", "relation": "friend"}},
            {"action": "add", "type": "fact", "fields": {"note": "The user likes green tea"}},
        ]
    }
    fake_openai.script(Reply(REPLY))
    fake_openai.script_completion(Reply(json.dumps(answer)[:-2] + ",]}"))  # and a stray comma
    h = WorkerHarness(settings)
    await h.request(p.Start(settings))
    await h.request(p.SendMessage(SAID))
    assert [(e.verb, e.title) for e in h.of(p.MemoryChanged)] == [
        ("Remembered", "The user likes green tea")
    ]
    await h.close()
