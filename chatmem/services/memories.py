"""The memory service: the store and its indexes, the rules of every change (remember,
edit, forget, pin, undo), extraction and journal entries. It returns what changed or raises
a ``chatmem.services.errors`` error; the app's worker and the headless commands both use it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatmem.domain.browse import Finder, FormProblems, parse_form, record, self_renamed
from chatmem.domain.context import EXTRACT_TOKENS, JOURNAL_TOKENS, clip, leading
from chatmem.domain.dates import day
from chatmem.domain.extract import (
    ANSWER_SCHEMA,
    Change,
    Unparsable,
    parse_candidates,
    plausible,
    reconcile,
)
from chatmem.domain.index import terms
from chatmem.domain.memories import Memory, MemoryRecord, MemoryRow, clean_fields, make_memory
from chatmem.domain.recall import Recall, Recalled
from chatmem.domain.sessions import ChatMessage, SessionInfo
from chatmem.domain.tokens import TokenCounter
from chatmem.services.errors import (
    Invalid,
    NotFound,
    NothingToDo,
    Refused,
    Unchanged,
    Unreadable,
)
from chatmem.services.files import read_export
from chatmem.services.line import Line, ask, asking
from chatmem.store.memories import MemoryStore
from chatmem.store.profile import Profile, ProfileMissing, ReadOnly
from chatmem.store.search_index import SearchIndex
from chatmem.store.sessions import SessionStore
from chatmem.store.transfer import Merged, TransferProblem, from_json, merge

if TYPE_CHECKING:
    from chatmem.llm.client import LLM
    from chatmem.services.embeddings import Embeddings

log = logging.getLogger(__name__)

SIMILAR = 5  # existing memories shown to the model next to its candidates
SELF = {"name": "Assistant", "relation": "self", "personality": "thoughtful, friendly, candid"}


def open_profile(
    data_dir: Path, name: str, clock: Callable[[], float], readonly: bool = False
) -> tuple[Profile, MemoryService]:
    """Open the profile: the worker's start-up (``readonly``: without the lock, writing
    nothing; a profile that holds nothing yet opens empty). The messages' index catches up
    at once; the memories are read and indexed in a thread meanwhile (``MemoryService.load``).
    """
    try:
        profile = Profile.open(data_dir, name, readonly=readonly, later=True)
    except ProfileMissing:
        profile = Profile(Path(data_dir) / "profiles" / name, -1, [], readonly=True, later=True)
    try:
        index = None if readonly else SearchIndex.open(profile.root)
        service = MemoryService(profile.memories, profile.sessions, clock, index)
        service.load()
    except BaseException:
        profile.close()
        raise
    return profile, service


@dataclass(frozen=True)
class Changed:
    """One change written: what the app says about it ("Remembered fact: …")."""

    change_id: str  # for undo; "" when it cannot be undone
    verb: str  # Remembered | Updated | Superseded | Forgot | Pinned | Unpinned | Undone
    kind: str
    title: str
    memory_id: str = ""


def read_memories(name: str) -> list[Memory]:
    """A memories export read and checked (``-``: stdin); ``Unreadable`` says why not."""
    text = read_export(name)
    try:
        return from_json(text)
    except TransferProblem as exc:
        raise Unreadable(f"Could not import {name}: {exc}; nothing was imported.") from None


def checked(kind: str, values: dict[str, str], self_record: bool, now: float) -> dict[str, Any]:
    """The fields of a memory from the form's text values; ``Invalid`` lists every problem.

    There is always exactly one self: the assistant's record keeps the relation "self" and no
    other person may take it (refused with a reason, never silently changed)."""
    if kind == "conversation":
        raise Refused("Journal entries are written from their session and are read-only.")
    problems: list[tuple[str, str]] = []
    try:
        fields = parse_form(kind, values, now)
    except FormProblems as exc:
        problems, fields = list(exc.problems), {}
    relation = values.get("relation", "").strip().casefold()
    if kind == "person" and (relation == "self") != self_record:
        why = "the assistant's own record keeps" if self_record else "only the assistant has"
        problems.append(("relation", f"{why} the relation 'self'."))
    if problems:
        raise Invalid(problems)
    return fields


class MemoryService:
    """The memories of one profile. ``load`` indexes everything for recall (the worker);
    the headless commands skip it: the rules need only the store."""

    def __init__(
        self,
        store: MemoryStore,
        sessions: SessionStore,
        clock: Callable[[], float],
        index: SearchIndex | None = None,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.clock = clock
        self.index = index  # on disk: a start reads only what changed since the last
        self.recall = Recall(index.memories, index.turns) if index else Recall()
        self.finder = Finder()
        self.undo_log: dict[str, list[Change]] = {}
        self.embeddings: Embeddings | None = None
        self.changed = asyncio.Event()  # set on every write: the embedder catches up
        self.caught_up = asyncio.Event()  # set while every memory and message has its vector
        self._loaded = threading.Event()  # the memories are read and indexed (by ``load``)
        self._loaded.set()
        self._failure: BaseException | None = None

    # ------------------------------------------------------------ loading

    def load(self) -> None:
        """Index the messages the index does not hold yet (in memory: all); read and index
        the memories in a thread (every use of them waits for it) and make sure the self
        exists."""
        self._catch_up()
        self._loaded.clear()
        threading.Thread(target=self._load_memories, daemon=True).start()

    def _load_memories(self) -> None:
        """What is loaded lives as long as the worker, so the cyclic GC is paused while it is
        built (its passes over the growing heap were a third of the time at 100k memories)
        and the result is frozen: later collections never scan it again."""
        found: list[str] = []
        profile_notices = self.store.notices
        gc.disable()
        try:
            self.store.load(found)
            self.recall.add_memories(self.store)
            if not any(m.is_self for m in self.store):
                with contextlib.suppress(ReadOnly):  # opened read-only: made at a writable open
                    memory = make_memory("person", SELF, self.clock())
                    self.store.put(memory)
                    self.recall.add_memory(memory)
        except BaseException as exc:  # raised again where the memories are used
            self._failure = exc
        finally:
            gc.enable()
            gc.freeze()
            self._loaded.set()
        profile_notices.extend(found)  # the worker tells them when this is done

    def loaded(self) -> None:
        """Wait until the memories are read and indexed."""
        self._loaded.wait()
        if self._failure is not None:
            raise self._failure

    async def ready(self) -> None:
        """``loaded``, without blocking the event loop."""
        if not self._loaded.is_set():
            await asyncio.to_thread(self._loaded.wait)
        self.loaded()

    def _catch_up(self) -> None:
        """Index the messages of sessions written since the index was (a crash between the
        two writes, a session imported or deleted by a command): each session's count of
        messages against the index's, so only those sessions are read."""
        seen = self.recall.turns.sessions()
        listed = self.sessions.list()
        for gone in seen.keys() - {s.id for s in listed}:
            self.recall.remove_session(gone)
        for session in listed:
            done = seen.get(session.id, 0)
            if done == session.message_count:
                continue
            messages = self.sessions.messages(session.id)
            if done > len(messages):  # not the session the index knew: indexed anew
                self.recall.remove_session(session.id)
                done = 0
            self.recall.add_turns(session.id, messages[done:], len(messages))

    def add_turn(self, session_id: str, message: ChatMessage) -> None:
        self.recall.add_turn(session_id, message)
        self._changed()

    def replace_turn(self, message: ChatMessage) -> None:
        self.recall.replace_turn(message)
        self._changed()

    def remove_session(self, session_id: str) -> None:
        """A deleted session's messages leave the indexes, and their vectors the store."""
        removed = self.recall.remove_session(session_id)
        if self.embeddings is not None:
            self.embeddings.turns.forget(removed)

    async def build(
        self, llm: LLM | None, query: str, counter: TokenCounter, budget: int, session_id: str
    ) -> Recalled:
        await self.ready()
        similar = await self.embeddings.similar(llm, query) if self.embeddings and llm else None
        return self.recall.build(
            query, self.store.memories, counter, budget, self.clock(), session_id, similar
        )

    def _put(self, memory: Memory) -> None:
        self.loaded()
        self.store.put(memory)
        self.recall.add_memory(memory)
        self._changed()

    def _changed(self) -> None:
        self.changed.set()
        self.caught_up.clear()

    def _delete(self, memory_id: str) -> None:
        self.loaded()
        self.store.delete(memory_id)
        self.recall.remove_memory(memory_id)
        if self.embeddings is not None:
            self.embeddings.forget([memory_id])

    # ------------------------------------------------------------ semantic recall

    async def keep_embedded(self, llm: LLM, root: Path, model: str, line: Line) -> None:
        """Embed memories and messages with ``model`` ("" = semantic recall off), each soon
        after it is written; runs until the settings change or the server turns out not to
        embed."""
        if self.embeddings is not None and self.embeddings.model != model:
            self.embeddings.close()
            self.embeddings = None
        if not model:
            return
        await self.ready()
        if self.embeddings is None:
            from chatmem.services.embeddings import Embeddings  # numpy: only when it is used

            self.embeddings = Embeddings(root, model, [])
        while True:
            self.changed.clear()
            job = partial(self.embeddings.catch_up, llm, self.store.memories, self.recall.turns)
            await line.run("embed", job)
            if self.embeddings.served is False:
                return
            if not self.changed.is_set():
                self.caught_up.set()
            await self.changed.wait()

    def close(self) -> None:
        self._loaded.wait()  # never close the index under the thread reading the memories
        if self.embeddings is not None:
            self.embeddings.close()
        if self.index is not None:
            self.index.close()

    # ------------------------------------------------------------ changes

    def apply(self, changes: list[Change]) -> list[Changed]:
        """Write the changes and keep them for undo; what was done, one line each."""
        done = []
        for change in changes:
            if change.after is not None:
                self._put(change.after)
            elif change.before is not None:
                self._delete(change.before.id)
            if change.also is not None:
                self._put(change.also)
            if change.after is not None and change.before is not None:
                self._log_self_rename(change.before, change.after)
            change_id = uuid.uuid4().hex[:8]
            self.undo_log[change_id] = [change]
            shown = change.after or change.before
            assert shown is not None
            done.append(Changed(change_id, change.verb, shown.kind, shown.title, shown.id))
        return done

    def _log_self_rename(self, before: Memory, after: Memory) -> None:
        event = self_renamed(before, after, self.clock())
        if event is not None:
            self._put(event)

    def undo(self, change_id: str) -> list[Changed]:
        changes = self.undo_log.pop(change_id, None)
        if not changes:
            raise NothingToDo("Nothing to undo.")
        done = []
        for change in reversed(changes):
            if change.also is not None:
                self._put(replace(change.also, superseded_by=""))
            if change.before is not None:
                self._put(change.before)
            elif change.after is not None:
                self._delete(change.after.id)
            shown = change.before or change.after
            assert shown is not None
            done.append(Changed("", "Undone", shown.kind, shown.title, shown.id))
        return done

    def remember(self, text: str, session_id: str = "") -> list[Changed]:
        """A fact the user asked to keep (``/remember TEXT``)."""
        text = text.strip()
        if not text:
            raise NothingToDo("Say what to remember: /remember TEXT")
        fact = make_memory("fact", {"note": text, "source": "the user"}, self.clock(), session_id)
        return self.apply([Change("Remembered", fact)])

    def forget(self, query: str) -> list[Changed]:
        """Forget the memory with that id, or else the one that best matches the words."""
        query = query.strip()
        self.loaded()
        memory = self.store.get(query)
        if memory is None and terms(query):
            ranked = self.recall.rank_memories(query, self.store.memories, self.clock())
            memory = ranked[0][0] if ranked else None
        if memory is None:
            raise NotFound(f"No memory matches {query!r}.", "information")
        return self._forget(memory)

    def delete(self, memory_id: str) -> list[Changed]:
        return self._forget(self.get(memory_id))

    def _forget(self, memory: Memory) -> list[Changed]:
        if memory.is_self:
            raise Refused("The assistant's own record cannot be deleted; edit it instead.")
        return self.apply([Change("Forgot", None, before=memory)])

    def get(self, memory_id: str) -> Memory:
        memory = self.store.get(memory_id)
        if memory is None:
            raise NotFound("That memory no longer exists.", "information")
        return memory

    def learnt_in(self, session_id: str) -> list[Memory]:
        """The memories learnt in a session (its journal entry too), never the self."""
        self.loaded()
        return [m for m in self.store if m.session_id == session_id and not m.is_self]

    def forget_session(self, session_id: str) -> int:
        """Delete every memory learnt in a session; how many."""
        doomed = self.learnt_in(session_id)
        for memory in doomed:
            self._delete(memory.id)
        return len(doomed)

    # ------------------------------------------------------------ the browser

    def browse(
        self, query: str, group: str, superseded: bool, recalled: set[str], limit: int
    ) -> tuple[tuple[tuple[str, int], ...], list[MemoryRow], int]:
        """Counts per group, the group's newest ``limit`` rows, and how many matched."""
        self.loaded()
        return self.finder.search(self.store, query, group, superseded, recalled, limit)

    def show(self, memory_id: str) -> MemoryRecord | None:
        """The whole record (a journal entry with its conversation); None if not stored."""
        memory = self.store.get(memory_id)
        if memory is None:
            return None
        transcript: tuple[ChatMessage, ...] = ()
        if memory.kind == "conversation":
            transcript = tuple(self.sessions.messages(memory.fields["session_id"]))
        return record(memory, transcript)

    def save(self, memory_id: str, kind: str, values: dict[str, str]) -> list[Changed]:
        """Add (no ``memory_id``) or edit from the form's text values: everything checked
        first (``checked``), nothing saved half-way."""
        before = self.get(memory_id) if memory_id else None
        kind = before.kind if before is not None else kind
        fields = checked(kind, values, before is not None and before.is_self, self.clock())
        if before is None:
            return self.apply([Change("Remembered", make_memory(kind, fields, self.clock()))])
        if clean_fields(kind, fields) == before.fields:
            raise Unchanged("Nothing changed: edit a field, or press Esc.")
        after = before.revised(fields, self.clock(), "user")
        return self.apply([Change("Updated", after, before)])

    def import_memories(self, memories: list[Memory], overwrite: bool) -> Merged:
        """Merge memories read from an export (ids the store has are kept unless
        ``overwrite``); the headless import, so the recall indexes are not kept up to date."""
        return merge(self.store, memories, overwrite)

    def pin(self, memory_id: str, pinned: bool) -> list[Changed]:
        """Pin or unpin; nothing is written when it already is."""
        memory = self.get(memory_id)
        if memory.pinned == pinned:
            return []
        verb = "Pinned" if pinned else "Unpinned"
        return self.apply([Change(verb, replace(memory, pinned=pinned), memory)])

    # ------------------------------------------------------------ with the model

    async def extract(
        self,
        llm: LLM,
        model: str,
        prompt: str,
        exchange: tuple[ChatMessage, ChatMessage],
        session_id: str,
        fitting: tuple[TokenCounter, int],
    ) -> list[Changed]:
        """Ask the model what the user's message taught us; apply it. Bad output changes nothing.

        The exchange is clipped to the window; an answer cut at its limit is dropped whole."""
        from chatmem.llm.client import Overrun

        user, reply = exchange
        counter, window = fitting
        await self.ready()
        near = self.embeddings.cached(user.content) if self.embeddings else {}
        ranked = self.recall.rank_memories(user.content, self.store.memories, user.created, near)
        similar = [m for m, _ in ranked][:SIMILAR]
        known = "\n".join(f"- id {m.id} [{m.kind}] {m.text()}" for m in similar) or "(none)"
        room = window - EXTRACT_TOKENS - counter.count(prompt) - counter.count(known) - 64
        said = clip(user.content, counter, max(room * 2 // 3, 64))
        answered = clip(reply.content, counter, max(room - counter.count(said), 32))
        messages = asking(
            prompt,
            f"Said on {day(user.created)}.\n\nExisting memories:\n{known}\n\n"
            f"The user's message:\n{said}\n\nThe assistant's reply:\n{answered}",
        )
        try:
            answer = await llm.complete_json(
                messages, model, "memories", ANSWER_SCHEMA, EXTRACT_TOKENS
            )
            candidates = plausible(parse_candidates(answer), prompt, said, answered)
        except (Unparsable, Overrun) as exc:
            log.info("extraction: the model's answer was not usable (%s)", exc)
            return []
        except Exception as exc:
            log.info("extraction failed: %s", type(exc).__name__)
            return []
        changes = reconcile(
            candidates, self.store.memories, self.clock(), user.created, session_id, (user.id,)
        )
        return self.apply(changes)

    async def summarize(
        self,
        llm: LLM,
        model: str,
        prompt: str,
        session: SessionInfo,
        fitting: tuple[TokenCounter, int],
    ) -> list[Changed] | None:
        """Write the journal entry of a finished session, or bring it up to date with the
        turns a resumed session added (what changed: nothing if it needs none); None if the
        model did not answer.

        A transcript longer than the window is journaled a window-sized part at a time, each
        part with the entry so far (as the fold does); an entry is carried on the same way."""
        said = [m for m in self.sessions.messages(session.id) if m.content and m.status != "failed"]
        old = self._journaled().get(session.id)
        covered = journaled_until(said, old)
        if len(said) < 2 or covered >= len(said):
            return []
        counter, window = fitting
        lines = [
            f"[{day(m.created)}] {'Me' if m.role == 'assistant' else 'User'}: {m.content}"
            for m in said
        ]
        room = window - 2 * JOURNAL_TOKENS - counter.count(prompt) - 64
        entry, done = (old.fields["summary"] if old else ""), covered
        try:
            while done < len(lines):
                costs = [counter.count_message(line) for line in lines[done:]]
                part = lines[done : done + leading(costs, room)]
                text = "\n\n".join(clip(line, counter, room) for line in part)
                if entry:
                    text = f"Your entry so far:\n{entry}\n\nThe conversation went on:\n{text}"
                entry = await ask(llm, asking(prompt, text), model, JOURNAL_TOKENS)
                done += len(part)
        except Exception as exc:
            log.info("journal entry for %s failed: %s", session.id, exc)
            return None
        if not entry:
            return None
        fields = {"summary": entry, "session_id": session.id}
        last = (said[-1].created, session.id, (said[-1].id,))  # the entry covers up to it
        if old is None:
            return self.apply([Change("Remembered", make_memory("conversation", fields, *last))])
        after = replace(old, fields=fields, updated=last[0], message_ids=last[2])
        return self.apply([Change("Updated", after, old)])

    def _journaled(self) -> dict[str, Memory]:
        """Sessions' journal entries (from recall's set: no scan of the store)."""
        self.loaded()
        entries = (self.store.get(i) for i in self.recall.always["journal"])
        return {m.fields["session_id"]: m for m in entries if m is not None}

    def unjournaled(self, current: str, limit: int = 5) -> list[SessionInfo]:
        """Finished sessions still waiting for their journal entry, or with turns since it
        was written (newest first)."""
        done = self._journaled()
        waiting = [
            s
            for s in self.sessions.list()
            if s.id != current
            and s.message_count >= 2
            and (s.id not in done or s.updated > done[s.id].updated)
        ]
        return sorted(waiting, key=lambda s: -s.created)[:limit]


def journaled_until(said: list[ChatMessage], entry: Memory | None) -> int:
    """How many of a session's messages its journal entry covers: up to the message it
    names (an entry written before entries named one: those as old as it)."""
    if entry is None:
        return 0
    if entry.message_ids:
        last = next((i for i, m in enumerate(said) if m.id == entry.message_ids[-1]), None)
        if last is not None:
            return last + 1
    return sum(m.created <= entry.updated for m in said)
