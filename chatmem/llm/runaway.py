"""A streamed reply that has run away: a model stuck saying the same thing over and over.

Small local models fall into loops (the same sentence, line or phrase again and again) and
would write until the reply's limit; the worker stops the stream when one is plain.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from chatmem.domain.context import sentences, wordy_line, wordy_sentence

LOOP_CHARS = 300  # a loop is at least this much text...
LOOP_TIMES = 3  # ...the same piece said at least this many times in a row
MAX_PERIOD = 400  # the longest piece looked for, in characters
SAID_TIMES = 5  # or one sentence (five words or more) or line said this often, anywhere
CHECK_EVERY = 200  # characters streamed between two looks
TAIL = MAX_PERIOD * LOOP_TIMES  # what the look at the end needs of the text
LINE_CAP = 4000  # characters: a longer line is no sentence said again (a loop in a row is)
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def repeating_tail(text: str) -> bool:
    """The end of ``text`` is one piece of up to ``MAX_PERIOD`` characters said
    ``LOOP_TIMES`` times or more in a row, ``LOOP_CHARS`` characters in all."""
    size = len(text)
    for period in range(1, min(MAX_PERIOD, size // LOOP_TIMES) + 1):
        if text[-1] != text[-1 - period]:
            continue  # (most periods fail here, without copying anything)
        span = max(period * LOOP_TIMES, LOOP_CHARS)
        if span <= size and text[size - span + period :] == text[size - span : size - period]:
            return True
    return False


def stopped_looping(model: str) -> str:
    """What the user is told of a reply stopped for looping."""
    return (
        f"{model} was saying the same thing over and over, so its reply was stopped there "
        "and kept, marked cut off. Asking again may go better."
    )


class LoopWatch:
    """Fed a reply's pieces as they stream; says when the reply has become a loop. Each
    piece is looked at about once: the end of the text for a loop in a row, and the
    sentences and lines as they complete for one said again and again (not in fenced code,
    where the same line may well come back; not in a line longer than ``LINE_CAP``)."""

    def __init__(self) -> None:
        self._tail = ""  # the last ``TAIL`` characters
        self._line: list[str] = []  # the line arriving …
        self._line_size = 0
        self._counted = 0  # … and how many of its sentences are counted
        self._fence = ""  # the fence of the code block the text is in
        self._said: Counter[str] = Counter()
        self._most = 0  # the count of the sentence or line said most
        self._unchecked = 0
        self.looping = False

    def add(self, piece: str) -> bool:
        """Take the next piece; True once the reply loops (looked at every ``CHECK_EVERY``
        characters, so the cost stays a small share of the stream's)."""
        self._tail = (self._tail + piece)[-TAIL:]
        *complete, rest = piece.split("\n")
        for part in complete:
            self._grow(part)
            self._end_line()
        self._grow(rest)
        self._unchecked += len(piece)
        if self._unchecked >= CHECK_EVERY:
            self._unchecked = 0
            if not self._fence and self._line_size <= LINE_CAP:
                done = sentences("".join(self._line))[self._counted : -1]  # (the last goes on)
                self._count(s for s in done if wordy_sentence(s))
                self._counted += len(done)
            self.looping = self.looping or self._most >= SAID_TIMES or repeating_tail(self._tail)
        return self.looping

    def _grow(self, part: str) -> None:
        self._line_size += len(part)
        if part and self._line_size <= LINE_CAP:
            self._line.append(part)

    def _end_line(self) -> None:
        line = "".join(self._line) if self._line_size <= LINE_CAP else ""
        counted, self._line, self._line_size, self._counted = self._counted, [], 0, 0
        if match := _FENCE.match(line):
            marker = match.group(1)
            if not self._fence:
                self._fence = marker
            elif marker.startswith(self._fence) and not line.strip().strip(marker[0]):
                self._fence = ""
            return
        if self._fence or not line.strip():
            return
        said = [s for s in sentences(line)[counted:] if wordy_sentence(s)]
        self._count([*said, line.strip()] if wordy_line(line.strip()) else said)

    def _count(self, said: Iterable[str]) -> None:
        for text in said:
            self._said[text] += 1
            self._most = max(self._most, self._said[text])
