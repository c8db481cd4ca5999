"""Memories to a file and back: the format, what is refused, and merging into a store."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from chatmem.domain.memories import make_memory
from chatmem.store.memories import MemoryStore, memory_doc
from chatmem.store.transfer import FORMAT, TransferProblem, from_json, merge, to_json

T = 1_790_000_000.0


def memories():
    anna = make_memory("person", {"name": "Anna", "relation": "sister"}, T, "s1", ("u1",), "m-a")
    return [
        anna.revised({"details": "paints"}, T + 1, "user"),
        replace(make_memory("fact", {"note": "I live in Berlin"}, T, memory_id="m-b"), pinned=True),
        replace(
            make_memory("fact", {"note": "I live in Bonn"}, T, memory_id="m-old"),
            superseded_by="m-b",
        ),
        make_memory("event", {"note": "Show", "dates": ["2026-10-03"]}, T, memory_id="m-e"),
    ]


def test_an_export_reads_back_whole():
    text = to_json(memories())
    data = json.loads(text)
    assert data["format"] == FORMAT and data["version"] == 1 and len(data["memories"]) == 4
    assert from_json(text) == memories()  # history, provenance, pins and supersessions too


def test_a_bare_list_of_records_is_read_too():
    docs = [{**memory_doc(m), "text": m.text()} for m in memories()]  # as `memories list --json`
    assert from_json(json.dumps(docs)) == memories()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not JSON"),
        ('{"format": "chatmem-session", "version": 1}', "not a chatmem memories export"),
        ('{"format": "chatmem-memories", "version": 9, "memories": []}', "newer chatmem"),
        ('{"format": "chatmem-memories", "version": 1}', "no list of memories"),
        ("[1]", "memory 1 is not a JSON object"),
        ('[{"id": "../x", "kind": "fact", "fields": {"note": "n"}}]', "id is '../x', not an id"),
        ('[{"id": "m1", "kind": "dream", "fields": {}}]', "kind is 'dream', not one of"),
        ('[{"id": "m1", "kind": "fact", "created": 1}]', "fields is not a JSON object"),
        ('[{"id": "m1", "kind": "fact", "fields": {"note": "n"}}]', "created is missing"),
        (
            '[{"id": "m1", "kind": "fact", "fields": {"note": "n"}, "created": 1, "history": [1]}]',
            "version 1 is not a JSON object",
        ),
        (
            '[{"id": "m1", "kind": "person", "fields": {"name": " "}, "created": 1}]',
            "a person needs a name",
        ),
        (
            '[{"id": "m1", "kind": "fact", "fields": {"note": "a"}, "created": 1},'
            ' {"id": "m1", "kind": "fact", "fields": {"note": "b"}, "created": 1}]',
            "share an id",
        ),
    ],
)
def test_what_is_not_a_memories_file_is_refused_with_the_reason(text, problem):
    with pytest.raises(TransferProblem, match=problem):
        from_json(text)


def test_fields_from_a_file_are_cleaned():
    doc = {"id": "m1", "kind": "fact", "fields": {"note": "  n ", "colour": "red"}, "created": 1}
    (memory,) = from_json(json.dumps([doc]))
    assert memory.fields == {"note": "n", "source": ""}


def test_merge_skips_stored_ids_unless_told_to_replace(tmp_path):
    store = MemoryStore(tmp_path, [])
    store.put(make_memory("fact", {"note": "stored"}, T, memory_id="m-b"))
    merged = merge(store, memories())
    assert (merged.added, merged.replaced, merged.present) == (3, 0, 1)
    assert store.get("m-b").fields["note"] == "stored"
    assert "skipped 1 already stored" in merged.line()
    merged = merge(store, memories(), overwrite=True)
    assert (merged.added, merged.replaced, merged.present) == (0, 4, 0)
    assert store.get("m-b").fields["note"] == "I live in Berlin"
    store.close()
    assert sorted(m.id for m in MemoryStore(tmp_path, [])) == ["m-a", "m-b", "m-e", "m-old"]


def test_merge_keeps_one_assistant_record(tmp_path):
    store = MemoryStore(tmp_path, [])
    store.put(make_memory("person", {"name": "Ada", "relation": "self"}, T, memory_id="m-self"))
    theirs = make_memory("person", {"name": "Bo", "relation": "self"}, T, memory_id="m-other")
    merged = merge(store, [theirs, *memories()])
    assert merged.selves == 1 and merged.added == 4
    assert [m.id for m in store if m.is_self] == ["m-self"]
