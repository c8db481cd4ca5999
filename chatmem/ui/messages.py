"""The Textual message that carries the worker's events to the screens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from chatmem.protocol import Event


class WorkerEvent(Message, bubble=False):
    """A protocol event. The app takes what it keeps (settings, the undoable change) and
    posts the event on to each screen of the stack; a screen that shows it handles it in
    ``on_worker_event``, the others let it pass."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event
