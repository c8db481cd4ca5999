"""The store owns its disk schema: files written before a change read back the same, and the
documents it writes hold exactly its own fields, whatever fields the records gain."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from chatmem.domain.memories import Memory
from chatmem.domain.records.session import SessionFile
from chatmem.domain.sessions import ChatMessage, SessionInfo
from chatmem.store import export
from chatmem.store.memories import MEMORY_FIELDS, MemoryStore
from chatmem.store.session_schema import MESSAGE_FIELDS, SESSION_FIELDS
from chatmem.store.sessions import SessionStore

# Written by chatmem before the store had its own schema module (asdict of the records);
# expected.json is what that chatmem read back from them.
STORED = Path(__file__).parent / "data" / "sessions-v1"
LISBON = "20241204-081320-a1b2c3"
# Memories written before the store declared their document (Memory.to_doc); expected.json
# is what that chatmem read back from them (asdict of each memory).
MEMORIES = Path(__file__).parent / "data" / "memories-v1"


@dataclass(frozen=True)
class ShownMessage(ChatMessage):
    """A message with a field the UI might add: it must not reach the file."""

    highlighted: bool = True


@dataclass(frozen=True)
class ShownSession(SessionInfo):
    pinned: bool = True


def stored_copy(tmp_path: Path, written: Path = STORED) -> Path:
    """A copy of files ``written`` before (without what they read back as)."""
    root = tmp_path / "profile"
    shutil.copytree(written, root, ignore=shutil.ignore_patterns("expected.json"))
    return root


def read_all(store: SessionStore) -> dict:
    sessions = store.list()
    return {
        "sessions": [asdict(i) for i in sessions],
        "messages": {i.id: [asdict(m) for m in store.recent(i.id, 100)[0]] for i in sessions},
        "summaries": {i.id: list(store.summary(i.id)) for i in sessions},
    }


def file_docs(root: Path) -> tuple[list[dict], list[dict]]:
    """The session entries of sessions.json and the messages of every session file."""
    index = json.loads((root / "sessions.json").read_text())["sessions"].values()
    messages = [
        doc
        for path in sorted((root / "sessions").glob("*.json"))
        for doc in json.loads(path.read_text()).get("messages", {}).values()
    ]
    return list(index), messages


def test_sessions_stored_before_read_back_the_same(tmp_path):
    notices: list[str] = []
    store = SessionStore(stored_copy(tmp_path), notices)
    assert read_all(store) == json.loads((STORED / "expected.json").read_text())
    store.close()
    assert notices == []


def test_rewriting_stored_sessions_gives_the_same_files(tmp_path):
    root = stored_copy(tmp_path)
    store = SessionStore(root, [])
    for info in store.list():
        store.rename(info.id, info.title)
        for message in store.recent(info.id, 100)[0]:
            store.update(info.id, message)
    store.close()
    for name in ("sessions.json", f"sessions/{LISBON}.json"):
        assert json.loads((root / name).read_text()) == json.loads((STORED / name).read_text())


def test_written_documents_hold_exactly_the_stores_fields(tmp_path):
    root = stored_copy(tmp_path)
    store = SessionStore(root, [])
    store.append(LISBON, ShownMessage("u3", "user", "Thanks!", 1733300200.0, tokens=3))
    made = store.create(1733500000.0, "new", session_id="20241206-090000-aaaaaa")
    copy = SessionFile(
        ShownSession("imported-1", "copy", 1.0, 1), [ShownMessage("x1", "user", "hi", 2.0)]
    )
    store.add([copy])
    store.extend(made.id, [ShownMessage("n1", "user", "new one", 1733500001.0)])
    store.close()
    index, messages = file_docs(root)
    assert len(index) == 4 and len(messages) == 7
    assert all(tuple(doc) == SESSION_FIELDS for doc in index)
    assert all(tuple(doc) == MESSAGE_FIELDS for doc in messages)
    reopened = SessionStore(root, [])
    assert reopened.get_message(LISBON, "u3") == ChatMessage(
        "u3", "user", "Thanks!", 1733300200.0, tokens=3
    )
    reopened.close()


def test_a_session_export_holds_the_stores_fields(tmp_path):
    store = SessionStore(stored_copy(tmp_path), [])
    data = json.loads(export.to_json(export.load(store, LISBON)))
    store.close()
    assert tuple(data["session"]) == SESSION_FIELDS
    assert all(tuple(m) == MESSAGE_FIELDS for m in data["messages"])


@dataclass(frozen=True)
class ShownMemory(Memory):
    """A memory with a field the UI might add: it must not reach the file."""

    recalled: bool = True


def test_memories_stored_before_read_back_the_same(tmp_path):
    notices: list[str] = []
    store = MemoryStore(stored_copy(tmp_path, MEMORIES), notices)
    read = json.dumps([asdict(m) for m in sorted(store, key=lambda m: m.id)])  # tuples: lists
    store.close()
    assert json.loads(read) == json.loads((MEMORIES / "expected.json").read_text())
    assert notices == []


def test_rewriting_stored_memories_gives_the_same_file(tmp_path):
    root = stored_copy(tmp_path, MEMORIES)
    store = MemoryStore(root, [])
    shown = [ShownMemory(**{f.name: getattr(m, f.name) for f in fields(m)}) for m in store]
    store.put_many(shown)  # every one written anew
    store.close()
    name = "memories/shard-00000.json"
    written = json.loads((root / name).read_text())
    assert written == json.loads((MEMORIES / name).read_text())
    assert all(tuple(doc) == MEMORY_FIELDS for doc in written["memories"].values())
