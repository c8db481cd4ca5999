"""What the assistant remembers for this turn: ranked, and fitted to a token budget."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from chatmem.domain.dates import day
from chatmem.domain.index import BM25Index, stamp
from chatmem.domain.memories import Memory, RecallItem
from chatmem.domain.sessions import ChatMessage
from chatmem.domain.tokens import TokenCounter

KIND_WEIGHT = {"person": 1.2, "fact": 1.0, "event": 1.0, "conversation": 0.8}
RECENCY_DAYS = 90  # a memory this old counts about 2/3 as much as a fresh one
SUMMARIES = 3  # most recent past conversations always offered
MIN_COSINE = 0.3  # embeddings less alike than this are noise, not meaning (OpenAI's v3 too)
# How a turn's relevance is judged (tuned on the shared LoCoMo split, see
# benchmarks/retrieval_locomo.py): words and meaning add up, each scaled to [0, 1].
TURN_MEANING = 0.5  # weight of the cosine next to BM25 (scaled to the best match)
LEXICAL_FLOOR = 0.2  # share of the question's term weight a turn must match, or else
MEANING_FLOOR = 0.4  # the cosine it must reach, to be recalled at all
LEXICAL_SHARE = 0.4  # ... and at least this part of what the best-matching turn matches
LEXICAL_ALONE = 0.3  # with embeddings, a turn far in meaning needs this share of the words
RECALLED_TURNS = 20  # at most this many earlier messages in a prompt


@dataclass(frozen=True)
class Turn:
    """A message of an earlier session, as recall sees it."""

    id: str
    session_id: str
    role: str
    content: str
    created: float
    speaker: str = ""

    def embedded(self) -> str:
        """What the turn's vector is made from."""
        return f"{self.speaker}: {self.content}" if self.speaker else self.content


@dataclass(frozen=True)
class Similar:
    """Cosines of a query's embedding with memories and with earlier messages, by id."""

    memories: dict[str, float]
    turns: dict[str, float]


@dataclass(frozen=True)
class Recalled:
    text: str
    tokens: int
    items: tuple[RecallItem, ...]
    semantic: bool = False


class TermIndex(Protocol):
    """A BM25 index: ``BM25Index`` in memory, or the worker's on disk."""

    def __len__(self) -> int: ...
    def __contains__(self, key: str) -> bool: ...
    def add(self, key: str, text: str) -> None: ...
    def add_all(self, items: list[tuple[str, str]]) -> None: ...
    def remove(self, key: str) -> None: ...
    def stamps(self) -> dict[str, str]: ...
    def scores(
        self,
        query: str,
        keep: Callable[[str], bool] | None = None,
        matched: dict[str, float] | None = None,
    ) -> dict[str, float]: ...


class TurnStore(Protocol):
    """Earlier messages and their index: ``Turns`` in memory, or the worker's on disk."""

    def __len__(self) -> int: ...
    def __contains__(self, turn_id: object) -> bool: ...
    def get(self, turn_id: str) -> Turn | None: ...
    def get_many(self, turn_ids: Iterable[str]) -> dict[str, Turn]: ...
    def values(self) -> Iterable[Turn]: ...
    def last(self, session_id: str) -> Turn | None: ...
    def previous(self, turn: Turn) -> Turn | None: ...
    def add(self, turn: Turn, text: str) -> None: ...
    def add_many(self, session_id: str, turns: list[tuple[Turn, str]], seen: int) -> None: ...
    def replace(self, turn: Turn, text: str) -> None: ...
    def sessions(self) -> dict[str, int]: ...
    def remove_session(self, session_id: str) -> list[str]: ...
    def scores(
        self, query: str, exclude_session: str, matched: dict[str, float]
    ) -> dict[str, float]: ...
    def newest(self, cores: list[str] | None = None) -> Iterator[Turn]: ...


class Turns:
    """Earlier messages in memory, each session's in order, with their BM25 index (the
    worker keeps them on disk instead: ``store.search_index.DiskTurns``, the same methods)."""

    def __init__(self) -> None:
        self.index = BM25Index()
        self._turns: dict[str, Turn] = {}
        self._sessions: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self._turns)

    def __contains__(self, turn_id: object) -> bool:
        return turn_id in self._turns

    def __getitem__(self, turn_id: str) -> Turn:
        return self._turns[turn_id]

    def get(self, turn_id: str) -> Turn | None:
        return self._turns.get(turn_id)

    def values(self) -> Iterable[Turn]:
        return self._turns.values()

    def get_many(self, turn_ids: Iterable[str]) -> dict[str, Turn]:
        return {i: self._turns[i] for i in turn_ids if i in self._turns}

    def last(self, session_id: str) -> Turn | None:
        order = self._sessions.get(session_id)
        return self._turns[order[-1]] if order else None

    def previous(self, turn: Turn) -> Turn | None:
        order = self._sessions.get(turn.session_id, [])
        at = order.index(turn.id) if turn.id in order else 0
        return self._turns.get(order[at - 1]) if at > 0 else None

    def add(self, turn: Turn, text: str) -> None:
        """Keep the turn, indexed by ``text``."""
        self._turns[turn.id] = turn
        self._sessions.setdefault(turn.session_id, []).append(turn.id)
        self.index.add(turn.id, text)

    def add_many(self, session_id: str, turns: list[tuple[Turn, str]], seen: int) -> None:
        for turn, text in turns:
            self.add(turn, text)

    def replace(self, turn: Turn, text: str) -> None:
        """A turn kept with new text, in its place."""
        self._turns[turn.id] = turn
        self.index.add(turn.id, text)

    def sessions(self) -> dict[str, int]:
        """How many messages of each session were indexed before this run: none in memory."""
        return {}

    def remove_session(self, session_id: str) -> list[str]:
        removed = self._sessions.pop(session_id, [])
        for turn_id in removed:
            self._turns.pop(turn_id, None)
            self.index.remove(turn_id)
        return removed

    def scores(
        self, query: str, exclude_session: str, matched: dict[str, float]
    ) -> dict[str, float]:
        turns = self._turns

        def keep(turn_id: str) -> bool:
            turn = turns.get(turn_id)
            return turn is not None and turn.session_id != exclude_session

        return self.index.scores(query, keep, matched)

    def newest(self, cores: list[str] | None = None) -> Iterator[Turn]:
        """Every turn, newest first (those holding ``cores`` among them: all may)."""
        return iter(sorted(self._turns.values(), key=lambda t: (t.created, t.id), reverse=True))


class Recall:
    """Both indexes (memories and earlier messages) and the ranking over them; in memory,
    or those given (the worker's, on disk)."""

    def __init__(
        self, memory_index: TermIndex | None = None, turns: TurnStore | None = None
    ) -> None:
        self.memory_index: TermIndex = memory_index if memory_index is not None else BM25Index()
        self.turns: TurnStore = turns if turns is not None else Turns()
        # Kept as memories come and go, so building a prompt never scans every memory.
        self.always: dict[str, set[str]] = {"self": set(), "pinned": set(), "journal": set()}

    def add_memory(self, memory: Memory) -> None:
        self.remove_memory(memory.id)
        if self._sort(memory):
            self.memory_index.add(memory.id, memory.text())

    def _sort(self, memory: Memory) -> bool:
        """Note the memory in ``always``; whether it belongs in the index."""
        if not memory.active:
            return False
        if memory.is_self:
            self.always["self"].add(memory.id)
            return False
        if memory.pinned:
            self.always["pinned"].add(memory.id)
        if memory.kind == "conversation":
            self.always["journal"].add(memory.id)
        return True

    def add_memories(self, memories: Iterable[Memory]) -> None:
        """Take in every memory at start: those the index holds already with the same text
        are left as they are, those it holds and no longer exist leave it."""
        held = self.memory_index.stamps()
        indexed, changed = set(), []
        for memory in memories:
            if self._sort(memory):
                indexed.add(memory.id)
                text = memory.text()
                if held.get(memory.id) != stamp(text):
                    changed.append((memory.id, text))
        self.memory_index.add_all(changed)
        for memory_id in held.keys() - indexed:
            self.memory_index.remove(memory_id)

    def remove_memory(self, memory_id: str) -> None:
        self.memory_index.remove(memory_id)
        for ids in self.always.values():
            ids.discard(memory_id)

    def add_turn(self, session_id: str, message: ChatMessage, speaker: str = "") -> None:
        self.add_turns(session_id, [message], None, speaker)

    def add_turns(
        self,
        session_id: str,
        messages: list[ChatMessage],
        seen: int | None = None,
        speaker: str = "",
    ) -> None:
        """Index a session's next messages (``seen``: how many of it there are now; None: one
        more each). A turn is indexed with the one before it: answers often only make sense
        with it."""
        previous = self.turns.last(session_id)
        context = previous.content if previous is not None else ""
        batch = []
        for message in messages:
            if not message.content:  # an unanswered message too: the user said it
                continue
            text = message.content
            if seen is not None and message.id in self.turns:  # indexed before a crash
                context = text
                continue
            turn = Turn(message.id, session_id, message.role, text, message.created, speaker)
            batch.append((turn, f"{speaker} {text} {text} {context}"))
            context = text
        if seen is None:
            for turn, text in batch:
                self.turns.add(turn, text)
        else:
            self.turns.add_many(session_id, batch, seen)

    def replace_turn(self, message: ChatMessage) -> None:
        """A message indexed before is indexed by its new text (a reply cut afterwards)."""
        turn = self.turns.get(message.id)
        if turn is None or not message.content:
            return
        previous = self.turns.previous(turn)
        context = previous.content if previous is not None else ""
        text = message.content
        new = Turn(turn.id, turn.session_id, turn.role, text, turn.created, turn.speaker)
        self.turns.replace(new, f"{turn.speaker} {text} {text} {context}")

    def remove_session(self, session_id: str) -> list[str]:
        """Forget a session's messages; their ids."""
        return self.turns.remove_session(session_id)

    def previous_turn(self, turn: Turn) -> Turn | None:
        return self.turns.previous(turn)

    def rank_memories(
        self,
        query: str,
        memories: dict[str, Memory],
        now: float,
        similar: dict[str, float] | None = None,
    ) -> list[tuple[Memory, float]]:
        """Memories by relevance: words (BM25, scaled to the best match) plus meaning (cosine
        of the embeddings, when known), weighed by type and recency."""
        lexical = self.memory_index.scores(query)
        best = max(lexical.values(), default=0.0) or 1.0
        relevance = {memory_id: score / best for memory_id, score in lexical.items()}
        for memory_id, cosine in (similar or {}).items():
            meaning = (cosine - MIN_COSINE) / (1 - MIN_COSINE)
            relevance[memory_id] = relevance.get(memory_id, 0.0) + max(meaning, 0.0)
        ranked = []
        for memory_id, score in relevance.items():
            memory = memories.get(memory_id)
            if memory is None or not memory.active or memory.is_self:
                continue
            age_days = max(now - memory.updated, 0) / 86400
            recency = 1 / (1 + age_days / (2 * RECENCY_DAYS))
            ranked.append((memory, score * KIND_WEIGHT[memory.kind] * (0.5 + 0.5 * recency)))
        ranked.sort(key=lambda item: -item[1])
        return ranked

    def rank_turns(
        self, query: str, exclude_session: str = "", similar: dict[str, float] | None = None
    ) -> list[tuple[Turn, float]]:
        """Earlier messages by relevance, words (BM25 scaled to the best match) plus meaning
        (cosine, when known); those below both floors are left out: nothing is better than
        messages about something else."""
        matched: dict[str, float] = {}
        lexical = self.turns.scores(query, exclude_session, matched)
        best = max(lexical.values(), default=0.0) or 1.0
        floor = max(LEXICAL_FLOOR, LEXICAL_SHARE * max(matched.values(), default=0.0))
        relevance = {
            turn_id: score / best for turn_id, score in lexical.items() if matched[turn_id] >= floor
        }
        if similar is not None:  # words alone, far in meaning: not about this
            weak = [i for i in relevance if i not in similar and matched[i] < LEXICAL_ALONE]
            for turn_id in weak:
                del relevance[turn_id]
        near = [i for i in similar or {} if i not in relevance]
        turns = self.turns.get_many([*relevance, *near])
        for turn_id, cosine in (similar or {}).items():
            turn = turns.get(turn_id)
            if (cosine < MEANING_FLOOR and turn_id not in relevance) or turn is None:
                continue
            if turn.session_id == exclude_session:
                continue
            meaning = max(cosine - MIN_COSINE, 0.0) / (1 - MIN_COSINE)
            relevance[turn_id] = relevance.get(turn_id, 0.0) + TURN_MEANING * meaning
        ranked = [(turns[i], score) for i, score in relevance.items()]
        ranked.sort(key=lambda item: -item[1])
        return ranked

    def build(
        self,
        query: str,
        memories: dict[str, Memory],
        counter: TokenCounter,
        budget: int,
        now: float,
        session_id: str = "",
        similar: Similar | None = None,
    ) -> Recalled:
        """The memory section of the system prompt, in a stable order, within ``budget``."""
        used = 0
        items: list[RecallItem] = []
        sections: dict[str, list[str]] = {
            "self": [], "pinned": [], "relevant": [], "messages": [], "journal": []
        }  # fmt: skip

        def take(section: str, kind: str, item_id: str, title: str, line: str) -> bool:
            nonlocal used
            cost = counter.count(line) + 1
            if used + cost > budget:
                return False
            used += cost
            sections[section].append(line)
            items.append(RecallItem(kind, item_id, title, cost))
            return True

        def always(group: str) -> list[Memory]:
            found = (memories.get(i) for i in self.always[group])
            return sorted((m for m in found if m is not None and m.active), key=_created)

        for memory in always("self"):
            take("self", "person", memory.id, memory.title, f"- {memory.text()}")
        for memory in always("pinned"):
            take("pinned", memory.kind, memory.id, memory.title, f"- {_line(memory)}")
        shown = {item.id for item in items}
        share = used + (budget - used) * 2 // 5
        near = similar.memories if similar is not None else None
        for memory, _ in self.rank_memories(query, memories, now, near):
            if memory.id in shown or memory.kind == "conversation":
                continue
            if used >= share or not take(
                "relevant", memory.kind, memory.id, memory.title, f"- {_line(memory)}"
            ):
                break
            shown.add(memory.id)
        share = used + (budget - used) * 2 // 3
        near = similar.turns if similar is not None else None
        for turn, _ in self.rank_turns(query, session_id, near)[:RECALLED_TURNS]:
            who = "I" if turn.role == "assistant" else "The user"
            line = f"- {day(turn.created)}, {who} said: {_clip(turn.content, 400)}"
            title = _clip(turn.content, 60)
            if used >= share or not take("messages", "message", turn.id, title, line):
                break
        journals = [m for m in always("journal") if m.id not in shown][-SUMMARIES:]
        for memory in journals:
            line = f"- {day(memory.created)}: {memory.text()}"
            take("journal", "conversation", memory.id, memory.title, line)
        text = _render(sections)
        return Recalled(text, used, tuple(items), similar is not None)


def _created(memory: Memory) -> float:
    return memory.created


def _line(memory: Memory) -> str:
    when = f" ({day(memory.created)})" if memory.kind == "event" else ""
    return f"[{memory.kind}] {memory.text()}{when}"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


HEADINGS = {
    "self": "Who you are",
    "pinned": "Always remember",
    "relevant": "What you remember that may matter now",
    "messages": "From earlier conversations",
    "journal": "Your journal of recent conversations",
}


def _render(sections: dict[str, list[str]]) -> str:
    return "\n\n".join(
        f"## {HEADINGS[name]}\n" + "\n".join(lines) for name, lines in sections.items() if lines
    )
