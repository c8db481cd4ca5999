"""The search indexes on disk: one SQLite file beside the TinyDB store of record.

What it holds is derived from the store and rebuilt from it when the file is missing, of
another schema, damaged or not ours: BM25 postings of the memories and of the messages of
every session (the stems ``memory.index.terms`` makes, so ranking is the same as in memory),
the messages' text for transcript search, and per session how many of its messages were
indexed, so that a start catches up on what a crash left out without reading the rest.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

from chatmem.domain.index import Postings as Found
from chatmem.domain.index import bm25, stamp, terms
from chatmem.domain.recall import Turn
from chatmem.store.atomic import move_aside

log = logging.getLogger(__name__)
R = TypeVar("R")

SCHEMA = 1
FORMAT = "chatmem search index"
NAME = "search.sqlite"
_CHUNK = 500  # ids per "IN (...)" query
_BATCH = 500  # documents added per transaction when many are

_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE);
CREATE TABLE memory_docs (
    doc INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, length INTEGER NOT NULL,
    term_ids TEXT NOT NULL, stamp TEXT NOT NULL);
CREATE TABLE memory_postings (
    term INTEGER NOT NULL, doc INTEGER NOT NULL, tf INTEGER NOT NULL,
    PRIMARY KEY (term, doc)) WITHOUT ROWID;
CREATE TABLE turn_docs (
    doc INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, length INTEGER NOT NULL,
    term_ids TEXT NOT NULL, stamp TEXT NOT NULL, session TEXT NOT NULL, role TEXT NOT NULL,
    content TEXT NOT NULL, created REAL NOT NULL, speaker TEXT NOT NULL);
CREATE INDEX turn_order ON turn_docs (session, doc);
CREATE INDEX turn_time ON turn_docs (created, key);
CREATE TABLE turn_postings (
    term INTEGER NOT NULL, doc INTEGER NOT NULL, tf INTEGER NOT NULL,
    PRIMARY KEY (term, doc)) WITHOUT ROWID;
CREATE TABLE sessions (id TEXT PRIMARY KEY, seen INTEGER NOT NULL);
"""


class SearchIndex:
    """The open index file."""

    def __init__(self, root: Path) -> None:
        self.path = root / NAME
        self.db = _open(self.path)
        terms = Terms(self.db)
        self.memories = Postings(self.db, terms, "memory")
        self.turns = DiskTurns(self.db, terms)

    @classmethod
    def open(cls, root: Path) -> SearchIndex | None:
        """The profile's index; None if it can be neither opened nor made (a read-only or
        full disk): the indexes are then kept in memory, as they were before."""
        try:
            return cls(root)
        except (OSError, sqlite3.Error) as exc:
            log.warning("no search index in %s (%s): indexing in memory", root, exc)
            return None

    def close(self) -> None:
        self.db.close()


def _open(path: Path) -> sqlite3.Connection:
    """The index at ``path``, made anew when missing, damaged, of another schema or not ours
    (someone else's file is moved aside, never deleted)."""
    if path.exists():
        found: dict[str, str] = {}
        try:  # read-only first: a file that is not ours is left exactly as it was
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
                found = dict(db.execute("SELECT key, value FROM meta").fetchall())
                db.execute("SELECT count(*) FROM sessions").fetchone()
        except sqlite3.DatabaseError as exc:
            log.warning("%s is unusable (%s): it is built anew", path, exc)
        if found.get("format") == FORMAT and found.get("schema") == str(SCHEMA):
            return _connect(path)
        _remove(path, ours=found.get("format") == FORMAT or not path.stat().st_size)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    db = _connect(path)
    meta = f"INSERT INTO meta VALUES ('format', '{FORMAT}'), ('schema', '{SCHEMA}');"
    db.executescript(f"BEGIN; {_TABLES} {meta} COMMIT;")  # all or nothing
    return db


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA cache_size=-32768")  # 32 MiB: postings go in all over the tree
    return db


def _remove(path: Path, ours: bool) -> None:
    """Ours (another schema, or damaged): deleted, it is rebuilt; anything else: moved aside."""
    for extra in ("-wal", "-shm", "-journal"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    if ours:
        path.unlink()
    else:
        moved = move_aside(path)
        log.warning("%s was not chatmem's search index: moved to %s", path, moved)


def _locked(method: Callable[..., R]) -> Callable[..., R]:
    """The method runs alone on the connection."""

    @functools.wraps(method)
    def locked(self: Postings | DiskTurns, *args: Any, **kwargs: Any) -> R:
        with self.terms.lock:
            return method(self, *args, **kwargs)

    return locked


class Postings:
    """One BM25 index in the file: each document's length and its terms' counts."""

    def __init__(self, db: sqlite3.Connection, terms: Terms, name: str) -> None:
        self.db = db
        self.terms = terms
        self.docs = f"{name}_docs"
        self.postings = f"{name}_postings"
        self.count()

    @_locked
    def count(self) -> None:
        """Read the number of documents and their summed length."""
        sql = f"SELECT count(*), total(length) FROM {self.docs}"
        n, total = self.db.execute(sql).fetchone()
        self.n, self.total = int(n), int(total)

    def __len__(self) -> int:
        return self.n

    @_locked
    def __contains__(self, key: str) -> bool:
        found = self.db.execute(f"SELECT 1 FROM {self.docs} WHERE key = ?", (key,)).fetchone()
        return found is not None

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    def add(self, key: str, text: str) -> None:
        self.add_all([(key, text)])

    def add_all(self, items: list[tuple[str, str]]) -> None:
        """(Re)place documents, a batch a transaction (others may use the index between)."""
        for start in range(0, len(items), _BATCH):
            with self.transaction():
                for key, text in items[start : start + _BATCH]:
                    self._add(key, Counter(terms(text)), stamp(text))

    def _add(self, key: str, counts: Counter[str], stamp: str, **extra: object) -> None:
        """Within a transaction: (re)place one document."""
        self._remove(key)
        length = sum(counts.values())
        ids = self.terms.ids(list(counts))
        columns = ", ".join(["key", "length", "term_ids", "stamp", *extra])
        marks = ", ".join("?" * (4 + len(extra)))
        held = " ".join(str(ids[term]) for term in counts)
        doc = self.db.execute(
            f"INSERT INTO {self.docs} ({columns}) VALUES ({marks})",
            (key, length, held, stamp, *extra.values()),
        ).lastrowid
        self.db.executemany(
            f"INSERT INTO {self.postings} VALUES (?, ?, ?)",
            [(ids[term], doc, tf) for term, tf in counts.items()],
        )
        self.n += 1
        self.total += length

    def remove(self, key: str) -> None:
        with self.transaction():
            self._remove(key)

    def _remove(self, key: str) -> None:
        found = self.db.execute(
            f"SELECT doc, length, term_ids FROM {self.docs} WHERE key = ?", (key,)
        ).fetchone()
        if found is None:
            return
        doc, length, held = found
        self.db.executemany(
            f"DELETE FROM {self.postings} WHERE term = ? AND doc = ?",
            [(int(t), doc) for t in held.split()],
        )
        self.db.execute(f"DELETE FROM {self.docs} WHERE doc = ?", (doc,))
        self.n -= 1
        self.total -= length

    @_locked
    def stamps(self) -> dict[str, str]:
        """Every document's stamp, by key (what was indexed, to compare with the store)."""
        return dict(self.db.execute(f"SELECT key, stamp FROM {self.docs}").fetchall())

    @_locked
    def scores(
        self,
        query: str,
        keep: Callable[[str], bool] | None = None,
        matched: dict[str, float] | None = None,
        skip_session: str = "",
    ) -> dict[str, float]:
        """As ``BM25Index.scores``; ``skip_session``: leave that session's messages out (their
        terms still count in the document frequencies, as in memory)."""
        query_terms = set(terms(query))
        ids = self.terms.ids(list(query_terms), add=False)
        skip = " AND d.session != ?" if skip_session else ""
        postings: Found = {term: (0, []) for term in query_terms}
        for term, term_id in ids.items():
            rows = self.db.execute(
                f"SELECT d.key, p.tf, d.length FROM {self.postings} p "
                f"JOIN {self.docs} d ON d.doc = p.doc WHERE p.term = ?{skip}",
                (term_id, skip_session) if skip else (term_id,),
            ).fetchall()
            df = len(rows)
            if skip:
                (df,) = self.db.execute(
                    f"SELECT count(*) FROM {self.postings} WHERE term = ?", (term_id,)
                ).fetchone()
            if keep is not None:
                rows = [row for row in rows if keep(row[0])]
            postings[term] = (df, rows)
        return bm25(self.n, self.total, postings, query_terms, matched)


class Terms:
    """The terms' ids, those looked up kept in memory (one table for both indexes), and the
    lock of the connection: memories are indexed in a thread of their own at start."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.known: dict[str, int] = {}
        self.lock = threading.RLock()  # one user of the connection at a time

    def ids(self, words: list[str], add: bool = True) -> dict[str, int]:
        """The ids of these terms (new ones made, unless not ``add``: then left out)."""
        known = self.known
        missing = [w for w in words if w not in known]
        for start in range(0, len(missing), _CHUNK):
            part = missing[start : start + _CHUNK]
            marks = ", ".join("?" * len(part))
            known.update(
                self.db.execute(f"SELECT term, id FROM terms WHERE term IN ({marks})", part)
            )
        if add:
            for word in missing:
                if word not in known:
                    sql = "INSERT INTO terms (term) VALUES (?)"
                    known[word] = int(self.db.execute(sql, (word,)).lastrowid or 0)
        return {w: known[w] for w in words if w in known}


class _Transaction:
    """BEGIN ... COMMIT (the connection is in autocommit mode); on an exception, ROLLBACK,
    and what was learnt in memory meanwhile (term ids, counts) is read again."""

    def __init__(self, postings: Postings) -> None:
        self.postings = postings

    def __enter__(self) -> None:
        self.postings.terms.lock.acquire()
        self.postings.db.execute("BEGIN")

    def __exit__(self, kind: object, *rest: object) -> None:
        try:
            if kind is None:
                self.postings.db.execute("COMMIT")
                return
            self.postings.db.execute("ROLLBACK")
            self.postings.terms.known.clear()
            self.postings.count()
        finally:
            self.postings.terms.lock.release()


_TURN = "key, session, role, content, created, speaker"


class DiskTurns:
    """The messages recall and transcript search see, with their postings, by message id."""

    def __init__(self, db: sqlite3.Connection, terms: Terms) -> None:
        self.db = db
        self.terms = terms
        self.index = Postings(db, terms, "turn")

    def __len__(self) -> int:
        return self.index.n

    def __contains__(self, turn_id: object) -> bool:
        return isinstance(turn_id, str) and turn_id in self.index

    def get(self, turn_id: str) -> Turn | None:
        return self.get_many([turn_id]).get(turn_id)

    def __getitem__(self, turn_id: str) -> Turn:
        turn = self.get(turn_id)
        if turn is None:
            raise KeyError(turn_id)
        return turn

    @_locked
    def values(self) -> list[Turn]:
        return [Turn(*row) for row in self.db.execute(f"SELECT {_TURN} FROM turn_docs")]

    @_locked
    def get_many(self, turn_ids: Iterable[str]) -> dict[str, Turn]:
        wanted = list(dict.fromkeys(turn_ids))
        found: dict[str, Turn] = {}
        for start in range(0, len(wanted), _CHUNK):
            part = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(part))
            sql = f"SELECT {_TURN} FROM turn_docs WHERE key IN ({marks})"
            found.update((row[0], Turn(*row)) for row in self.db.execute(sql, part))
        return found

    def last(self, session_id: str) -> Turn | None:
        return self._neighbour(session_id, "SELECT max(doc) FROM turn_docs WHERE session = ?")

    def previous(self, turn: Turn) -> Turn | None:
        sql = (
            "SELECT max(doc) FROM turn_docs WHERE session = ? "
            "AND doc < (SELECT doc FROM turn_docs WHERE key = ?)"
        )
        return self._neighbour(turn.session_id, sql, turn.id)

    @_locked
    def _neighbour(self, session_id: str, sql: str, *args: str) -> Turn | None:
        row = self.db.execute(
            f"SELECT {_TURN} FROM turn_docs WHERE doc = ({sql})", (session_id, *args)
        ).fetchone()
        return Turn(*row) if row else None

    def add(self, turn: Turn, text: str) -> None:
        """Store and index one message (``text``: what its postings are made of); the
        session's count of messages seen goes up in the same transaction."""
        with self.index.transaction():
            self._put(turn, text)
            self._seen(turn.session_id, 1)

    def replace(self, turn: Turn, text: str) -> None:
        """Store and index a message anew (the session's count stays)."""
        with self.index.transaction():
            self._put(turn, text)

    def add_many(self, session_id: str, turns: list[tuple[Turn, str]], seen: int) -> None:
        """Store and index a session's next messages in one transaction, with how many of
        the session's messages are indexed then (empty ones count: they are not indexed)."""
        with self.index.transaction():
            for turn, text in turns:
                self._put(turn, text)
            self.db.execute(
                "INSERT INTO sessions VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen = ?",
                (session_id, seen, seen),
            )

    def _put(self, turn: Turn, text: str) -> None:
        self.index._add(
            turn.id,
            Counter(terms(text)),
            "",
            session=turn.session_id,
            role=turn.role,
            content=turn.content,
            created=turn.created,
            speaker=turn.speaker,
        )

    def _seen(self, session_id: str, more: int) -> None:
        self.db.execute(
            "INSERT INTO sessions VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen = seen + ?",
            (session_id, more, more),
        )

    @_locked
    def sessions(self) -> dict[str, int]:
        """How many messages of each session were seen by the index."""
        return dict(self.db.execute("SELECT id, seen FROM sessions").fetchall())

    def remove_session(self, session_id: str) -> list[str]:
        with self.index.transaction():
            removed = [
                key
                for (key,) in self.db.execute(
                    "SELECT key FROM turn_docs WHERE session = ? ORDER BY doc", (session_id,)
                ).fetchall()
            ]
            for key in removed:
                self.index._remove(key)
            self.db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        return removed

    def scores(
        self, query: str, exclude_session: str, matched: dict[str, float]
    ) -> dict[str, float]:
        return self.index.scores(query, None, matched, exclude_session)

    def newest(self, cores: list[str] | None = None) -> Iterator[Turn]:
        """Messages newest first: with ``cores``, only those whose indexed words include for
        each core one that begins with it (what transcript search then looks at)."""
        return (Turn(*row) for row in self._newest(cores))

    @_locked
    def _newest(self, cores: list[str] | None) -> list[tuple]:
        if not cores:
            sql = f"SELECT {_TURN} FROM turn_docs ORDER BY created DESC, key DESC"
            return self.db.execute(sql).fetchall()
        docs: set[int] | None = None
        for core in sorted(cores, key=len, reverse=True):
            found = {
                doc
                for (doc,) in self.db.execute(
                    "SELECT p.doc FROM terms t JOIN turn_postings p ON p.term = t.id "
                    "WHERE t.term >= ? AND t.term < ?",
                    (core, core + "\U0010ffff"),
                )
            }
            docs = found if docs is None else docs & found
            if not docs:
                return []
        ordered = sorted(docs or ())
        rows = []
        for start in range(0, len(ordered), _CHUNK):
            part = ordered[start : start + _CHUNK]
            marks = ", ".join("?" * len(part))
            rows += self.db.execute(
                f"SELECT {_TURN} FROM turn_docs WHERE doc IN ({marks})", part
            ).fetchall()
        rows.sort(key=lambda r: (r[4], r[0]), reverse=True)
        return rows
