"""Memory domain code on its own: dates, reconcile, the index, the sharded store, recall."""

from __future__ import annotations

import datetime as dt

from chatmem.domain.dates import resolve_dates
from chatmem.domain.extract import Candidate, Unparsable, parse_candidates, reconcile
from chatmem.domain.index import BM25Index
from chatmem.domain.memories import make_memory
from chatmem.domain.recall import Recall, Similar
from chatmem.domain.tokens import TokenCounter
from chatmem.protocol import ChatMessage
from chatmem.store import shards as store_module
from chatmem.store.memories import MemoryStore

SAID = dt.datetime(2024, 11, 2, 19, 4).timestamp()  # a Saturday


def test_relative_dates_become_absolute_and_vague_ones_are_dropped():
    got = resolve_dates(
        ["yesterday", "tomorrow", "next Friday", "last Monday", "3 days ago", "March 3", "soon"],
        SAID,
    )
    assert got == [
        "2024-11-01",
        "2024-11-03",
        "2024-11-08",
        "2024-10-28",
        "2024-10-30",
        "2024-03-03",
    ]


def test_months_and_years_are_counted_on_the_calendar():
    march_31 = dt.datetime(2024, 3, 31, 12).timestamp()
    got = resolve_dates(
        ["last month", "next month", "2 months ago", "in a year", "a week ago"], march_31
    )
    assert got == ["2024-02-29", "2024-04-30", "2024-01-31", "2025-03-31", "2024-03-24"]
    leap_day = dt.datetime(2024, 2, 29, 12).timestamp()
    assert resolve_dates(["next year", "last year", "in 12 months"], leap_day) == [
        "2025-02-28", "2023-02-28"
    ]  # fmt: skip
    assert resolve_dates(["99999999 years ago", "in 9999999 days"], leap_day) == []


def test_answers_are_parsed_from_json_a_fenced_block_or_plain_text():
    plain = 'Sure! {"memories": [{"action": "add", "type": "fact", "fields": {"note": "x"}}]}'
    fenced = '```json\n{"memories": []}\n```'
    assert parse_candidates(plain)[0].fields == {"note": "x"}
    assert parse_candidates(fenced) == []
    for bad in ("no json here", '{"other": 1}', "{broken"):
        try:
            parse_candidates(bad)
        except Unparsable:
            continue
        raise AssertionError(bad)


def test_reconcile_adds_updates_supersedes_and_skips_what_is_known():
    tea = make_memory("fact", {"note": "The user likes green tea"}, 1.0)
    city = make_memory("fact", {"note": "The user lives in Berlin"}, 1.0)
    known = {tea.id: tea, city.id: city}
    changes = reconcile(
        [
            Candidate("add", "fact", {"note": "The user likes green tea"}),  # known: none
            Candidate("update", "fact", {"note": "The user likes green tea, no sugar"}, tea.id),
            Candidate("supersede", "fact", {"note": "The user lives in Madrid"}, city.id),
            Candidate("add", "event", {"note": "Dentist", "dates": ["tomorrow"]}),
            Candidate("add", "alien", {"note": "?"}),  # unknown type: skipped
            Candidate("none", "fact", {"note": "whatever"}),
        ],
        known, 2.0, SAID, "s1", ("m1",),
    )  # fmt: skip
    assert [c.verb for c in changes] == ["Updated", "Superseded", "Remembered"]
    updated = changes[0].after
    assert updated.fields["note"].endswith("no sugar") and updated.history[0].fields == tea.fields
    assert changes[1].also.superseded_by == changes[1].after.id
    assert changes[2].after.fields["dates"] == ["2024-11-03"]
    assert changes[2].after.message_ids == ("m1",)


def test_index_adds_and_removes_incrementally():
    index = BM25Index()
    index.add("a", "My sister Anna paints landscapes")
    index.add("b", "Bought a new bike")
    assert index.search("who paints? my sisters")[0][0] == "a"
    index.remove("a")
    assert index.search("sister") == [] and len(index) == 1


def test_store_writes_shards_of_bounded_size_and_reloads(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "SHARD_SIZE", 3)
    store = MemoryStore(tmp_path, [])
    made = [make_memory("fact", {"note": f"fact {i}"}, float(i)) for i in range(7)]
    for memory in made:
        store.put(memory)
    store.put(made[0].revised({"note": "fact zero"}, 9.0, "user"))
    store.delete(made[1].id)
    store.close()
    assert len(list((tmp_path / "memories").glob("shard-*.json"))) == 3
    again = MemoryStore(tmp_path, [])
    assert len(again) == 6 and again.get(made[0].id).fields["note"] == "fact zero"
    assert again.get(made[0].id).history[0].fields["note"] == "fact 0"


def test_recall_keeps_the_budget_and_a_stable_order():
    me = make_memory("person", {"name": "Ada", "relation": "self"}, 1.0)
    pin = make_memory("fact", {"note": "Always answer in English"}, 1.0, pinned=True)
    facts = [make_memory("fact", {"note": f"Anna likes item {i} " * 5}, 1.0) for i in range(50)]
    memories = {m.id: m for m in [me, pin, *facts]}
    recall = Recall()
    for memory in memories.values():
        recall.add_memory(memory)
    got = recall.build("what does Anna like?", memories, TokenCounter("gpt-4o-mini"), 300, 2.0)
    assert got.tokens <= 300
    assert (
        got.text.index("Who you are")
        < got.text.index("Always remember")
        < got.text.index("may matter now")
    )
    assert [i.kind for i in got.items][:2] == ["person", "fact"]


def test_vector_index_finds_near_ones_and_survives_removal():
    import numpy as np

    from chatmem.domain.vectors import VectorIndex, decode, encode, unit

    index = VectorIndex()
    for i in range(100):  # past the first growth of the matrix
        index.add(f"m{i}", unit(np.eye(128, dtype=np.float32)[i]))
    index.remove("m5")
    index.remove("m99")
    assert len(index) == 98
    assert index.nearest(unit(np.eye(128)[7]), 5, 0.3) == {"m7": 1.0}
    assert index.nearest(unit(np.eye(128)[5]), 5, 0.3) == {}
    assert index.add("m1", unit(np.ones(64))) is False  # other dimensions: refused
    vector = unit([0.3, -0.2, 0.9])
    assert np.allclose(decode(encode(vector)), vector, atol=1e-3)


def test_meaning_adds_to_words_in_the_ranking():
    both = make_memory("fact", {"note": "Anna is an artist, she paints"}, 1.0)
    worded = make_memory("fact", {"note": "the artist colony in Sintra"}, 1.0)
    meant = make_memory("fact", {"note": "Tom, the painter"}, 1.0)
    memories = {m.id: m for m in (both, worded, meant)}
    recall = Recall()
    for memory in memories.values():
        recall.add_memory(memory)
    lexical = recall.rank_memories("artist", memories, 1.0)
    assert {m.id for m, _ in lexical} == {both.id, worded.id}
    similar = {both.id: 0.9, meant.id: 0.8, worded.id: 0.2}  # 0.2: below the floor, ignored
    blended = [m.id for m, _ in recall.rank_memories("artist", memories, 1.0, similar)]
    assert blended[0] == both.id and set(blended) == set(memories)


def test_the_form_offers_exactly_the_fields_a_memory_keeps():
    from chatmem.domain.memories import FIELDS, FORM, REQUIRED
    from chatmem.protocol import FORM as WIRE_FORM

    assert WIRE_FORM is FORM  # the UI reads the domain's form, not a copy

    for kind, form in FORM.items():
        keys = [key for key, _, _ in form]
        assert keys[0] == REQUIRED[kind]
        linked = {"session_id"} if kind == "conversation" else set()  # set by the worker
        assert set(keys) == set(FIELDS[kind]) - linked


def test_words_are_matched_by_their_snowball_stem():
    from chatmem.domain.index import stem

    assert [stem(w) for w in ("running", "class", "caring", "news")] == [
        "run", "class", "care", "news"
    ]  # fmt: skip
    assert stem("studies") == stem("study") == stem("studied")
    index = BM25Index()
    index.add("a", "She studies marine biology")
    index.add("b", "The news about the class")
    assert [i for i, _ in index.search("study")] == ["a"]
    assert index.search("new") == []  # "news" is not the plural of "new"


OLD_CHAT = [  # the everyday words of the question below come up in a chat about anything
    "I want to know which bicycle to buy for the hills",
    "A gravel bike is the simplest way to ride both roads and trails",
    "Can you show me how to fix a bicycle chain that keeps slipping?",
    "Shift to the smallest cog and show me the derailleur: I want to see the way it sits",
    "Any good tea for the evening? I want something calm",
    "Chamomile is the simplest: no caffeine, and you know it will not keep you awake",
    "The best way to brew green tea is to let it steep for three minutes",
    "I know, I always forget the timer. Can you show me a way to remember?",
    "Do you want me to remind you when the tea is ready?",
    "Let me know how the ride goes this weekend",
]


def test_recall_sends_no_earlier_message_when_none_is_relevant():
    recall = Recall()
    for i, text in enumerate(OLD_CHAT):
        recall.add_turn("old", ChatMessage(f"m{i}", "user", text, float(i)))
    question = "Can you show me how to reverse a string in Python? I want to know the simplest way"
    counter = TokenCounter("gpt-4o-mini")
    got = recall.build(question, {}, counter, 2000, 10.0, "new")
    assert got.items == () and got.text == "" and got.tokens == 0  # a ceiling, not a target
    recall.add_turn("py", ChatMessage("py", "user", "In Python, text[::-1] reverses a string", 9.0))
    got = recall.build(question, {}, counter, 2000, 10.0, "new")
    assert [item.id for item in got.items] == ["py"]
    assert "bicycle" not in got.text and "tea" not in got.text


def test_meaning_recalls_an_earlier_message_that_shares_no_word():
    recall = Recall()
    for i, text in enumerate(OLD_CHAT):
        recall.add_turn("old", ChatMessage(f"m{i}", "user", text, float(i)))
    recall.add_turn("old", ChatMessage("art", "user", "Anna paints landscapes", 9.0))
    question = "Who is the artist in my family?"
    assert recall.rank_turns(question, "new") == []  # no word in common
    similar = Similar({}, {"art": 0.55, "m2": 0.32})  # 0.32: near the noise, no word shared
    ranked = recall.rank_turns(question, "new", similar.turns)
    assert [turn.id for turn, _ in ranked] == ["art"]
    got = recall.build(question, {}, TokenCounter("gpt-4o-mini"), 2000, 10.0, "new", similar)
    assert "Anna paints landscapes" in got.text and got.semantic
