"""The search indexes on disk (store/search_index.py): derived from the TinyDB store, rebuilt
when missing, damaged, stale or not ours, caught up after a crash — and ranking as in memory."""

from __future__ import annotations

import sqlite3
import stat
import time
from pathlib import Path

import pytest

from chatmem import protocol as p
from chatmem.domain.memories import make_memory
from chatmem.domain.recall import Recall
from chatmem.domain.search import search
from chatmem.services.memories import MemoryService, open_profile
from chatmem.store.profile import Profile
from chatmem.store.search_index import NAME, SearchIndex
from tests.conftest import settings_for
from tests.harness import FIXED_TIME
from tests.seed import seed

QUERIES = ["Anna paints", "lisbon", "swarm", "bees spring", "opening show", "studies", "the"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    settings = settings_for(tmp_path, "http://127.0.0.1:9/v1")
    seed(settings)
    return Path(settings.data_dir)


def opened(data_dir: Path) -> tuple[Profile, MemoryService]:
    profile, service = open_profile(data_dir, "default", lambda: FIXED_TIME)
    service.loaded()  # the memories are read and indexed in a thread
    return profile, service


def found(service: MemoryService) -> dict[str, object]:
    """What every query finds: transcript search, ranked messages, ranked memories."""
    recall = service.recall
    out: dict[str, object] = {}
    for query in QUERIES:
        hits, total = search(recall, query)
        out[f"search {query}"] = ([(h.turn, h.snippet, h.marks) for h in hits], total)
        out[f"turns {query}"] = recall.rank_turns(query)
        out[f"turns {query} not lisbon"] = recall.rank_turns(query, "s-lisbon")
        memories = recall.rank_memories(query, service.store.memories, FIXED_TIME)
        out[f"memories {query}"] = [(m.id, score) for m, score in memories]
    return out


def in_memory(data_dir: Path) -> dict[str, object]:
    """The same, from indexes built in memory (as before the index was on disk)."""
    with Profile.open(data_dir, "default") as profile:
        service = MemoryService(profile.memories, profile.sessions, lambda: FIXED_TIME)
        service.load()
        service.loaded()
        assert isinstance(service.recall.turns, type(Recall().turns))
        return found(service)


def closed(profile: Profile, service: MemoryService) -> None:
    service.close()
    profile.close()


def test_the_index_finds_and_ranks_exactly_as_in_memory(data_dir):
    expected = in_memory(data_dir)
    assert any(expected.values())
    for _ in range(2):  # built, then read back
        profile, service = opened(data_dir)
        assert service.index is not None
        assert found(service) == expected
        closed(profile, service)
    path = data_dir / "profiles" / "default" / NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("damage", ["deleted", "garbage", "foreign", "other schema", "empty"])
def test_a_missing_damaged_or_foreign_index_is_built_anew(data_dir, damage):
    expected = in_memory(data_dir)
    closed(*opened(data_dir))
    path = data_dir / "profiles" / "default" / NAME
    path.unlink()
    if damage == "garbage":
        path.write_bytes(b"\x00\xffnot sqlite at all" * 100)
    elif damage == "foreign":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE mine (x)")
    elif damage == "other schema":
        SearchIndex(path.parent).close()
        with sqlite3.connect(path) as db:
            db.execute("UPDATE meta SET value = '999' WHERE key = 'schema'")
    elif damage == "empty":
        path.write_bytes(b"")
    before = path.read_bytes() if path.exists() else None
    profile, service = opened(data_dir)
    assert found(service) == expected
    closed(profile, service)
    aside = list(path.parent.glob(f"{NAME}.corrupt-*"))
    if damage in ("garbage", "foreign"):  # not known to be ours: kept, never deleted
        assert [a.read_bytes() for a in aside] == [before]
    else:
        assert aside == []


def test_a_message_stored_but_not_indexed_before_a_crash_is_indexed_at_the_next_start(
    data_dir,
):
    closed(*opened(data_dir))
    with Profile.open(data_dir, "default") as profile:  # the TinyDB write, then the crash
        profile.sessions.append("s-bees", p.ChatMessage("u9", "user", "Tandem bicycles!", 9e8))
        profile.sessions.create(FIXED_TIME, "New", session_id="s-new")
        profile.sessions.append("s-new", p.ChatMessage("u10", "user", "A tandem again", 9e8))
        profile.sessions.delete("s-lisbon")
    profile, service = opened(data_dir)
    hits, total = search(service.recall, "tandem")
    assert total == 2 and {h.turn.id for h in hits} == {"u9", "u10"}
    assert service.recall.previous_turn(hits[0].turn).id == "a3"  # in its session's order
    assert not search(service.recall, "Lisbon")[1]  # the deleted session left the index
    assert service.recall.turns.sessions() == {"s-bees": 3, "s-new": 1}
    closed(profile, service)
    expected = in_memory(data_dir)
    profile, service = opened(data_dir)
    assert found(service) == expected
    closed(profile, service)


def test_memories_written_without_the_worker_are_indexed_at_the_next_start(data_dir):
    closed(*opened(data_dir))
    with Profile.open(data_dir, "default") as profile:  # as ``chatmem memories add/rm`` do
        fact = make_memory("fact", {"note": "The tandem is red"}, time.time(), memory_id="m-t")
        profile.memories.put(fact)
        profile.memories.delete("m-anna")
    profile, service = opened(data_dir)
    ranked = service.recall.rank_memories("tandem", service.store.memories, FIXED_TIME)
    assert [m.id for m, _ in ranked] == ["m-t"]
    ranked = service.recall.rank_memories("Anna", service.store.memories, FIXED_TIME)
    assert ranked and "m-anna" not in [m.id for m, _ in ranked]
    assert "m-anna" not in service.recall.memory_index
    closed(profile, service)


def test_a_read_only_profile_indexes_in_memory_and_writes_no_index(data_dir):
    expected = in_memory(data_dir)
    profile, service = open_profile(data_dir, "default", lambda: FIXED_TIME, readonly=True)
    service.loaded()
    assert service.index is None
    assert found(service) == expected
    closed(profile, service)
    assert not (data_dir / "profiles" / "default" / NAME).exists()
