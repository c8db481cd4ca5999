"""Sessions: an index file, and one TinyDB file per session so a write costs O(that session)."""

from __future__ import annotations

import builtins
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

from tinydb import TinyDB
from tinydb.storages import MemoryStorage

from chatmem.domain.records import Reader, RecordProblem
from chatmem.domain.records.session import SessionFile
from chatmem.domain.sessions import ChatMessage, SessionInfo
from chatmem.store.atomic import NewerSchema, StoreError, open_db, open_or_set_aside, private_dir
from chatmem.store.ids import checked_id
from chatmem.store.session_schema import (
    SCHEMA,
    message_doc,
    message_from_doc,
    session_doc,
    session_from_doc,
)

log = logging.getLogger(__name__)

OPEN_SESSIONS = 4  # session files kept parsed in memory at once


@dataclass
class _Open:
    db: TinyDB
    messages: list[ChatMessage] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)  # message id -> position
    doc_ids: list[int] = field(default_factory=list)  # position -> TinyDB doc id


class SessionStore:
    """Messages are only ever appended; a damaged stored one is skipped, never rewritten."""

    def __init__(self, root: Path, notices: list[str], readonly: bool = False) -> None:
        self.root = root
        self.notices = notices
        self.readonly = readonly  # nothing made, moved or written (the profile refuses writes)
        self.dir = root / "sessions" if readonly else private_dir(root / "sessions")
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._index_db = self._open_index()
        self._info: dict[str, SessionInfo] = {}
        self._uncounted: set[str] = set()  # indexed before tokens were: counted when opened
        damaged = 0
        for doc in self._index_db.table("sessions").all():
            try:
                info = session_from_doc(doc, "session")
            except RecordProblem as exc:
                damaged += 1
                log.warning("sessions.json: %s", exc)
                continue
            self._info[info.id] = info
            if "tokens" not in doc:
                self._uncounted.add(info.id)
        if damaged:
            notices.append(
                f"{damaged:,} damaged entries of {root / 'sessions.json'} were skipped: "
                "those conversations are not listed."
            )
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
                if self._path(session_id).stat().st_mtime_ns < indexed:
                    continue
            except (OSError, StoreError):
                continue
            messages = self._session(session_id).messages
            if session_id not in self._info:  # made by a newer chatmem: no longer listed
                continue
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
                meta = session.table("meta").get(doc_id=1)
                messages, _, _ = _messages(session, path.name)
                session.close()
                info = session_from_doc({**(meta or {}), "message_count": len(messages)}, path.name)
            except (StoreError, RecordProblem):
                continue
            if info.id == path.stem:
                updated = max((m.created for m in messages), default=info.created)
                tokens = sum(m.tokens for m in messages)
                table.insert(session_doc(replace(info, updated=updated, tokens=tokens)))

    def _write_index(self, ids: set[str]) -> None:
        """Update or add these sessions' entries: a write for those updated, one for those added."""
        from tinydb import Query

        table = self._index_db.table("sessions")
        indexed = {doc.get("id") for doc in table.all()}
        old = [i for i in ids if i in indexed]
        if old:
            table.update_multiple([(session_doc(self._info[i]), Query().id == i) for i in old])
        new = [session_doc(self._info[i]) for i in ids if i not in indexed]
        if new:
            table.insert_multiple(new)

    # ------------------------------------------------------------ sessions

    def _path(self, session_id: str) -> Path:
        return self.dir / f"{checked_id(session_id)}.json"

    def create(self, now: float, title: str = "", session_id: str = "") -> SessionInfo:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
        info = SessionInfo(session_id or f"{stamp}-{secrets.token_hex(3)}", title, now, 0, now)
        checked_id(info.id)
        self._info[info.id] = info
        self._session(info.id).db.table("meta").insert(
            {"id": info.id, "title": title, "created": now}
        )
        self._write_index({info.id})
        return info

    def add(self, sessions: list[SessionFile]) -> list[SessionInfo]:
        """Store whole sessions (an import) in one step: each file is written complete, then
        one write of the index names them all; a crash before it leaves them unlisted, never
        half there."""
        for session in sessions:
            info, messages = session.info, session.messages
            db, _ = self._open_file(self._path(info.id), "session", "it is written anew.")
            meta = {"id": info.id, "title": info.title, "created": info.created}
            if session.summary:
                meta |= {"summary": session.summary, "summarized": session.summarized}
            db.storage.write(
                {
                    "meta": {"1": meta},
                    "messages": {str(n): message_doc(m) for n, m in enumerate(messages, 1)},
                }
            )
            entry = _Open(db, list(messages), {m.id: i for i, m in enumerate(messages)})
            entry.doc_ids = list(range(1, len(messages) + 1))
            self._keep(info.id, entry)
        for session in sessions:
            info, messages = session.info, session.messages
            self._info[info.id] = replace(
                info,
                message_count=len(messages),
                updated=max((m.created for m in messages), default=info.created),
                tokens=sum(m.tokens for m in messages),
            )
            self._uncounted.discard(info.id)
        ids = [s.info.id for s in sessions]
        self._write_index(set(ids))
        return [self._info[i] for i in ids]

    def get(self, session_id: str) -> SessionInfo | None:
        return self._info.get(session_id)

    def latest(self) -> SessionInfo | None:
        """The most recently used session this chatmem can read."""
        for info in sorted(self._info.values(), key=lambda s: (s.updated, s.id), reverse=True):
            if self._readable(info.id):
                return info
        return None

    def list(self) -> list[SessionInfo]:
        """Every session, the most recently used first."""
        for session_id in list(self._uncounted):
            self._readable(session_id)  # counts its tokens
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
        self._path(session_id).unlink(missing_ok=True)

    def summary(self, session_id: str) -> tuple[str, int]:
        """The rolling summary and how many of the oldest messages it stands for."""
        meta = Reader(self._session(session_id).db.table("meta").get(doc_id=1) or {}, "meta")
        try:
            return meta.text("summary", ""), meta.count("summarized")
        except RecordProblem as exc:
            log.warning("session %s: summary not read: %s", session_id, exc)
            return "", 0

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
        """The session's messages; none for a session not stored (its file is not opened) or
        made by a newer chatmem (then no longer listed)."""
        entry = self._open.get(session_id)
        if entry is not None:
            self._open.move_to_end(session_id)
            return entry
        if session_id not in self._info:
            return _Open(TinyDB(storage=MemoryStorage))
        path = self._path(session_id)
        try:
            db, _ = self._open_file(path, "session", "that session is shown empty.")
        except NewerSchema as exc:  # left as it is, for the chatmem that wrote it
            self.notices.append(f"{exc} That conversation is not shown.")
            self._info.pop(session_id)
            self._dirty.discard(session_id)
            self._uncounted.discard(session_id)
            return _Open(TinyDB(storage=MemoryStorage))
        messages, doc_ids, damaged = _messages(db, path.name)
        if damaged:
            self.notices.append(f"{damaged:,} damaged messages of {path} are not shown.")
        entry = _Open(db, messages, {m.id: i for i, m in enumerate(messages)}, doc_ids)
        if session_id in self._uncounted:
            self._uncounted.discard(session_id)
            tokens = sum(m.tokens for m in messages)
            self._info[session_id] = replace(self._info[session_id], tokens=tokens)
            self._dirty.add(session_id)
        return self._keep(session_id, entry)

    def _keep(self, session_id: str, entry: _Open) -> _Open:
        self._open[session_id] = entry
        while len(self._open) > OPEN_SESSIONS:
            _, old = self._open.popitem(last=False)
            old.db.close()
        return entry

    def _readable(self, session_id: str) -> bool:
        """Open the session: False if it could not be (it is then no longer listed)."""
        self._session(session_id)
        return session_id in self._info

    def append(self, session_id: str, message: ChatMessage) -> None:
        self.extend(session_id, [message])

    def extend(self, session_id: str, messages: builtins.list[ChatMessage]) -> None:
        """Add messages at the end (one write however many)."""
        if not messages:
            return
        entry = self._session(session_id)
        try:
            added = entry.db.table("messages").insert_multiple(message_doc(m) for m in messages)
        except BaseException:  # its TinyDB counted doc ids never written: read the file anew
            del self._open[session_id]
            raise
        entry.doc_ids += added
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
        entry.db.table("messages").update(message_doc(message), doc_ids=[entry.doc_ids[position]])
        if message.tokens != entry.messages[position].tokens:
            info = self._info[session_id]
            tokens = info.tokens - entry.messages[position].tokens + message.tokens
            self._info[session_id] = replace(info, tokens=tokens)
            self._dirty.add(session_id)
        entry.messages[position] = message

    def get_message(self, session_id: str, message_id: str) -> ChatMessage | None:
        entry = self._session(session_id)
        position = entry.index.get(message_id)
        return None if position is None else entry.messages[position]

    def recent(self, session_id: str, limit: int) -> tuple[builtins.list[ChatMessage], bool]:
        """The last ``limit`` messages, oldest first, and whether older ones exist."""
        messages = self._session(session_id).messages
        start = max(0, len(messages) - limit)
        return messages[start:], start > 0

    def messages(self, session_id: str) -> builtins.list[ChatMessage]:
        """Every message of the session, oldest first (a copy of the list)."""
        return list(self._session(session_id).messages)

    def before(
        self, session_id: str, message_id: str, limit: int
    ) -> tuple[builtins.list[ChatMessage], bool]:
        """The ``limit`` messages just before ``message_id``, and whether older ones exist."""
        entry = self._session(session_id)
        end = entry.index.get(message_id, 0)
        start = max(0, end - limit)
        return entry.messages[start:end], start > 0


def _messages(db: TinyDB, name: str) -> tuple[list[ChatMessage], list[int], int]:
    """A session file's readable messages, their doc ids, and how many were damaged."""
    messages, doc_ids, damaged = [], [], 0
    for doc in db.table("messages").all():
        try:
            messages.append(message_from_doc(doc, f"{name} message {doc.doc_id}"))
        except RecordProblem as exc:
            damaged += 1
            log.warning("%s", exc)
            continue
        doc_ids.append(doc.doc_id)
    return messages, doc_ids, damaged
