"""A streamed reply that has run away: a model stuck saying the same thing over and over.

Small local models fall into loops (the same sentence, line or phrase again and again) and
would write until the reply's limit; the worker stops the stream when one is plain.
"""

from __future__ import annotations

from chatmem.domain.context import looping

LOOP_CHARS = 300  # a loop is at least this much text...
LOOP_TIMES = 3  # ...the same piece said at least this many times in a row
MAX_PERIOD = 400  # the longest piece looked for, in characters
SAID_TIMES = 5  # or one sentence (five words or more) or line said this often, anywhere
CHECK_EVERY = 200  # characters streamed between two looks


def repeating_tail(text: str) -> bool:
    """The end of ``text`` is one piece of up to ``MAX_PERIOD`` characters said
    ``LOOP_TIMES`` times or more in a row, ``LOOP_CHARS`` characters in all."""
    size = len(text)
    for period in range(1, min(MAX_PERIOD, size // LOOP_TIMES) + 1):
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
    """Fed a reply's pieces as they stream; says when the reply has become a loop."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._checked = 0
        self.looping = False

    def add(self, piece: str) -> bool:
        """Take the next piece; True once the reply loops (looked at every ``CHECK_EVERY``
        characters, so the cost stays a small share of the stream's)."""
        self._parts.append(piece)
        self._size += len(piece)
        if self._size - self._checked >= CHECK_EVERY:
            self._checked = self._size
            text = "".join(self._parts)
            self.looping = repeating_tail(text) or looping(text, SAID_TIMES)
        return self.looping
