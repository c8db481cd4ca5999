"""When Python's cyclic garbage collector may run in the UI process.

A full collection scans every live object that is not frozen; with hundreds of Markdown
block widgets (each a few reference cycles) one took 50-100 ms, in the middle of a streamed
reply or right after it. So the start-up heap is frozen once; while a reply is shown, full
collections wait (the young generations, which are cheap, still run: disabling the GC
outright made the first pass afterwards 30 ms long); once the UI is idle, what the reply
left is frozen too. Every ``FULL_EVERY`` replies an idle full pass reclaims the frozen
objects that have become garbage since.
"""

from __future__ import annotations

import gc

FULL_EVERY = 20
NEVER = 1 << 30


class Collector:
    def __init__(self) -> None:
        self.replies = 0
        self.streaming = 0  # replies being shown
        self.threshold = gc.get_threshold()

    def started(self) -> None:
        """The app has painted and imported what it needs: freeze the start-up heap."""
        gc.freeze()

    def reply_started(self) -> None:
        self.streaming += 1
        gen0, gen1, _ = self.threshold
        gc.set_threshold(gen0, gen1, NEVER)

    def reply_ended(self) -> None:
        self.streaming = max(self.streaming - 1, 0)
        self.replies += 1

    def idle(self) -> None:
        """The UI is idle after a reply: freeze (or now and then collect) what it left."""
        if self.streaming:
            return
        if self.replies >= FULL_EVERY:
            self.replies = 0
            gc.unfreeze()
            gc.collect()
        gc.freeze()
        gc.set_threshold(*self.threshold)
