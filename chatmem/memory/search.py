"""Full-text search across every stored transcript, newest first, with the match in context."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatmem.memory.index import stem, words
from chatmem.memory.recall import Recall, Turn

BEFORE = 50  # characters of the message shown before the first match
SNIPPET = 160


@dataclass(frozen=True)
class Found:
    turn: Turn
    snippet: str  # the part of the message around the first match, on one line
    marks: tuple[tuple[int, int], ...]  # (start, end) of each matching word in the snippet


def search(recall: Recall, query: str, limit: int = 50) -> tuple[list[Found], int]:
    """Messages holding every word of ``query`` at the start of a word, in any form ('paint'
    finds 'painting', 'swarms' finds 'swarmed'), or the text as typed when it has only stop
    words; the newest ``limit`` and how many match."""
    stems = [stem(w) for w in words(query)]
    if stems:
        starts = re.compile(r"\b(?:" + "|".join(map(re.escape, stems)) + r")\w*", re.IGNORECASE)

        def hits(text: str, lowered: str) -> list[tuple[int, int]]:
            if not all(s in lowered for s in stems):
                return []
            found = list(starts.finditer(text))
            seen = {next(s for s in stems if m.group().lower().startswith(s)) for m in found}
            return [m.span() for m in found] if len(seen) == len(set(stems)) else []
    else:
        needle = " ".join(query.split())
        if not needle:
            return [], 0
        pattern = re.compile(re.escape(needle), re.IGNORECASE)

        def hits(text: str, lowered: str) -> list[tuple[int, int]]:
            return [m.span() for m in pattern.finditer(text)]

    turns = sorted(recall.turns.values(), key=lambda t: (t.created, t.id), reverse=True)
    found: list[Found] = []
    total = 0
    for turn in turns:
        spans = hits(turn.content, turn.content.lower())
        if not spans:
            continue
        total += 1
        if len(found) < limit:
            found.append(_in_context(turn, spans))
    return found, total


def _in_context(turn: Turn, spans: list[tuple[int, int]]) -> Found:
    text = turn.content
    start = max(0, spans[0][0] - BEFORE)
    if start:  # begin at a word
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < spans[0][0] else start
    end = min(len(text), start + SNIPPET)
    piece = text[start:end]
    # One line: newlines and runs of spaces become one space, marks move with the text.
    flat, offsets = [], []
    for ch in piece:
        if ch.isspace():
            if flat and flat[-1] == " ":
                offsets.append(len(flat) - 1)
                continue
            ch = " "
        offsets.append(len(flat))
        flat.append(ch)
    offsets.append(len(flat))
    prefix = "…" if start else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix)
    marks = tuple(
        (offsets[a - start] + shift, offsets[min(b, end) - start] + shift)
        for a, b in spans
        if start <= a < end
    )
    return Found(turn, prefix + "".join(flat).rstrip() + suffix, marks)
