"""Full-text search across every stored transcript, newest first, with the match in context."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatmem.domain.index import WORD, stem, words
from chatmem.domain.recall import Recall, Turn

BEFORE = 50  # characters of the message shown before the first match
SNIPPET = 160


@dataclass(frozen=True)
class Found:
    turn: Turn
    snippet: str  # the part of the message around the first match, on one line
    marks: tuple[tuple[int, int], ...]  # (start, end) of each matching word in the snippet


def search(recall: Recall, query: str, limit: int = 50) -> tuple[list[Found], int]:
    """Messages holding every word of ``query`` in any form ('paint' finds 'painting', 'studies'
    finds 'study', 'swarms' finds 'swarmed'), or the text as typed when it has only stop
    words; the newest ``limit`` and how many match."""
    wanted = words(query)
    if wanted:
        stems = {stem(w): w for w in wanted}
        # A word of the same stem shares all of it but its last letter ('studi': 'study'): a
        # cheap test that skips most messages before their words are stemmed.
        cores = [s[:-1] if len(s) > 2 else s for s in stems]

        def hits(text: str, lowered: str) -> list[tuple[int, int]]:
            if not all(c in lowered for c in cores):
                return []
            spans, seen = [], set()
            for m in WORD.finditer(text):
                word = m.group().lower()
                found = stem(word)
                if found not in stems:
                    found = next((s for s, w in stems.items() if word.startswith(w)), "")
                if found:
                    spans.append(m.span())
                    seen.add(found)
            return spans if len(seen) == len(stems) else []
    else:
        cores = []
        needle = " ".join(query.split())
        if not needle:
            return [], 0
        pattern = re.compile(re.escape(needle), re.IGNORECASE)

        def hits(text: str, lowered: str) -> list[tuple[int, int]]:
            return [m.span() for m in pattern.finditer(text)]

    found: list[Found] = []
    total = 0
    for turn in recall.turns.newest(cores):  # those holding the words' stems, when indexed
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
    flat: list[str] = []
    offsets: list[int] = []
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
