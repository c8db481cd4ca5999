"""Sessions: an index file, and one TinyDB file per session so a write costs O(that session)."""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from tinydb import TinyDB

from chatmem.protocol import ChatMessage, SessionInfo
from chatmem.store.atomic import StoreError, open_db, open_or_set_aside, private_dir

log = logging.getLogger(__name__)

SCHEMA = 1
OPEN_SESSIONS = 4  # session files kept parsed in memory at once
_MESSAGE_FIELDS = {f.name for f in fields(ChatMessage)}


def _message(doc: dict) -> ChatMessage:
    return ChatMessage(**{k: v for k, v in doc.items() if k in _MESSAGE_FIELDS})


@dataclass
class _Open:
    db: TinyDB
    messages: list[ChatMessage]
    index: dict[str, int]  # message id -> position


class SessionStore:
    """Messages are only ever appended, so a message's TinyDB doc id is its position + 1."""

    def __init__(self, root: Path, notices: list[str], readonly: bool = False) -> None:
        self.root = root
        self.notices = notices
        self.readonly = readonly  # nothing made, moved or written (the profile refuses writes)
        self.dir = root / "sessions" if readonly else private_dir(root / "sessions")
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._index_db = self._open_index()
        self._info: dict[str, SessionInfo] = {}
        self._uncounted: set[str] = set()  # indexed before tokens were: counted when opened
        for doc in self._index_db.table("sessions").all():
            info = SessionInfo(
                doc["id"],
                doc["title"],
                doc["created"],
                doc["message_count"],
                doc.get("updated", doc["created"]),
                doc.get("tokens", 0),
            )
            self._info[info.id] = info
            if "tokens" not in doc:
                self._uncounted.add(info.id)
        self._dirty: set[str] = set()
        self._recount_newer()

    def _recount_newer(self) -> None:
        """Count again the sessions written since the index was (its counts and times wait in
        memory for ``flush``: a crash before it left them wrong for good)."""
        try:
            indexed = (self.root / "sessions.json").stat().st_mtime_ns
        except OSError:
            return
        for session_id, info in list(self._info.items()):
            try:
                if (self.dir / f"{session_id}.json").stat().st_mtime_ns < indexed:
                    continue
            except OSError:
                continue
            messages = self._session(session_id).messages
            counted = replace(
                self._info[session_id],
                message_count=len(messages),
                updated=max([info.updated, *(m.created for m in messages)]),
                tokens=sum(m.tokens for m in messages),
            )
            if counted != self._info[session_id]:
                self._info[session_id] = counted
                self._dirty.add(session_id)

    # ------------------------------------------------------------ index

    def _open_file(self, path: Path, kind: str, consequence: str) -> tuple[TinyDB, bool]:
        return open_or_set_aside(path, kind, SCHEMA, self.notices, consequence, self.readonly)

    def _open_index(self) -> TinyDB:
        path = self.root / "sessions.json"
        db, fresh = self._open_file(path, "sessions", "the list is rebuilt from the session files.")
        if fresh:
            self._rebuild(db)
        return db

    def _rebuild(self, db: TinyDB) -> None:
        table = db.table("sessions")
        for path in sorted(self.dir.glob("*.json")):
            try:
                session = open_db(path, "session", SCHEMA)
            except StoreError:
                continue
            meta = session.table("meta").get(doc_id=1)
            messages = session.table("messages").all()
            session.close()
            if meta:
                updated = max((m["created"] for m in messages), default=meta["created"])
                tokens = sum(m.get("tokens", 0) for m in messages)
                info = SessionInfo(meta["id"], meta["title"], meta["created"], len(messages))
                table.insert(asdict(replace(info, updated=updated, tokens=tokens)))

    def _write_index(self, ids: set[str]) -> None:
        from tinydb import Query

        table = self._index_db.table("sessions")
        for session_id in ids:
            table.upsert(asdict(self._info[session_id]), Query().id == session_id)

    # ------------------------------------------------------------ sessions

    def create(self, now: float, title: str = "", session_id: str = "") -> SessionInfo:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
        info = SessionInfo(session_id or f"{stamp}-{secrets.token_hex(3)}", title, now, 0, now)
        self._info[info.id] = info
        self._session(info.id).db.table("meta").insert(
            {"id": info.id, "title": title, "created": now}
        )
        self._write_index({info.id})
        return info

    def get(self, session_id: str) -> SessionInfo | None:
        return self._info.get(session_id)

    def latest(self) -> SessionInfo | None:
        if not self._info:
            return None
        return max(self._info.values(), key=lambda s: (s.updated, s.id))

    def list(self) -> list[SessionInfo]:
        """Every session, the most recently used first."""
        for session_id in list(self._uncounted):
            self._session(session_id)  # counts its tokens
        return sorted(self._info.values(), key=lambda s: (s.updated, s.id), reverse=True)

    def rename(self, session_id: str, title: str) -> None:
        self._info[session_id] = replace(self._info[session_id], title=title)
        self._session(session_id).db.table("meta").update({"title": title}, doc_ids=[1])
        self._write_index({session_id})

    def delete(self, session_id: str) -> None:
        """Remove the session and its transcript file."""
        from tinydb import Query

        entry = self._open.pop(session_id, None)
        if entry is not None:
            entry.db.close()
        self._info.pop(session_id, None)
        self._dirty.discard(session_id)
        self._uncounted.discard(session_id)
        self._index_db.table("sessions").remove(Query().id == session_id)
        (self.dir / f"{session_id}.json").unlink(missing_ok=True)

    def summary(self, session_id: str) -> tuple[str, int]:
        """The rolling summary and how many of the oldest messages it stands for."""
        meta = self._session(session_id).db.table("meta").get(doc_id=1) or {}
        return meta.get("summary", ""), int(meta.get("summarized", 0))

    def set_summary(self, session_id: str, summary: str, summarized: int) -> None:
        meta = self._session(session_id).db.table("meta")
        meta.update({"summary": summary, "summarized": summarized}, doc_ids=[1])

    def flush(self) -> None:
        """Write the counts and times the index has only in memory so far."""
        if self._dirty:
            self._write_index(self._dirty)
            self._dirty.clear()

    def close(self) -> None:
        self.flush()
        for entry in self._open.values():
            entry.db.close()
        self._open.clear()
        self._index_db.close()

    # ------------------------------------------------------------ messages

    def _session(self, session_id: str) -> _Open:
        entry = self._open.get(session_id)
        if entry is not None:
            self._open.move_to_end(session_id)
            return entry
        path = self.dir / f"{session_id}.json"
        db, _ = self._open_file(path, "session", "that session is shown empty.")
        messages = [_message(doc) for doc in db.table("messages").all()]
        entry = _Open(db, messages, {m.id: i for i, m in enumerate(messages)})
        if session_id in self._uncounted:
            self._uncounted.discard(session_id)
            tokens = sum(m.tokens for m in messages)
            self._info[session_id] = replace(self._info[session_id], tokens=tokens)
            self._dirty.add(session_id)
        self._open[session_id] = entry
        while len(self._open) > OPEN_SESSIONS:
            _, old = self._open.popitem(last=False)
            old.db.close()
        return entry

    def append(self, session_id: str, message: ChatMessage) -> None:
        self.extend(session_id, [message])

    def extend(self, session_id: str, messages: list[ChatMessage]) -> None:
        """Add messages at the end (one write however many)."""
        if not messages:
            return
        entry = self._session(session_id)
        try:
            entry.db.table("messages").insert_multiple(asdict(m) for m in messages)
        except BaseException:  # its TinyDB counted doc ids never written: read the file anew
            del self._open[session_id]
            raise
        for message in messages:
            entry.index[message.id] = len(entry.messages)
            entry.messages.append(message)
        info = self._info[session_id]
        self._info[session_id] = replace(
            info,
            message_count=len(entry.messages),
            updated=max(info.updated, *(m.created for m in messages)),
            tokens=info.tokens + sum(m.tokens for m in messages),
        )
        self._dirty.add(session_id)

    def update(self, session_id: str, message: ChatMessage) -> None:
        entry = self._session(session_id)
        position = entry.index[message.id]
        entry.db.table("messages").update(asdict(message), doc_ids=[position + 1])
        entry.messages[position] = message

    def get_message(self, session_id: str, message_id: str) -> ChatMessage | None:
        entry = self._session(session_id)
        position = entry.index.get(message_id)
        return None if position is None else entry.messages[position]

    def recent(self, session_id: str, limit: int) -> tuple[list[ChatMessage], bool]:
        """The last ``limit`` messages, oldest first, and whether older ones exist."""
        messages = self._session(session_id).messages
        start = max(0, len(messages) - limit)
        return messages[start:], start > 0

    def before(
        self, session_id: str, message_id: str, limit: int
    ) -> tuple[list[ChatMessage], bool]:
        """The ``limit`` messages just before ``message_id``, and whether older ones exist."""
        entry = self._session(session_id)
        end = entry.index.get(message_id, 0)
        start = max(0, end - limit)
        return entry.messages[start:end], start > 0
