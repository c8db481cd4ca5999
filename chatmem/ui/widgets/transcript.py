"""The scrolling list of messages, kept cheap to lay out however long it grows.

Textual re-arranges every displayed widget on each layout change, so this list
- unmounts the oldest messages past ``MAX_MOUNTED`` while the reader follows the bottom,
- *folds* parts well above the viewport: they stop being displayed and one spacer of the
  same height stands in for them, so the scroll position and scrollbar do not move. They
  unfold as the user scrolls back up to them.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.events import Resize

    from chatmem.ui.widgets.message import MessageView

MAX_MOUNTED = 40  # messages kept mounted while following the bottom
FOLD_ABOVE = 2  # fold when this many screens of shown content lie above the viewport …
KEEP_ABOVE = 1  # … down to this many; unfold back to FOLD_ABOVE when fewer remain


class Transcript(VerticalScroll):
    """Message parts in order, under a spacer standing in for the folded ones; focused (Tab
    from the prompt, or a click), the arrows, PageUp/PageDown, Home and End scroll it."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.views: list[MessageView] = []  # the messages shown, oldest first
        self.spacer = Static(classes="spacer")
        self._folded: list[tuple[Widget, int]] = []  # hidden parts and the rows each spanned
        self._fold_width = 0  # the width the folded parts were measured at
        self._refold_pending = False

    def compose(self):
        yield self.spacer

    def on_mount(self) -> None:
        self.spacer.display = False
        self.anchor()
        self.watch(self, "scroll_y", self._schedule_refold, init=False)
        # Following the bottom moves scroll_y without calling watchers; the content grows.
        self.watch(self, "virtual_size", self._schedule_refold, init=False)

    def on_resize(self, event: Resize) -> None:
        self._unfold_if_resized()

    def _unfold_if_resized(self) -> None:
        if self._folded and self.scrollable_content_region.width != self._fold_width:
            self._unfold(len(self._folded))  # heights were measured at another width

    def _schedule_refold(self) -> None:
        if not self._refold_pending:
            self._refold_pending = True
            self.call_after_refresh(self._refold)  # measure parts once they are laid out

    # ------------------------------------------------------------ messages

    async def show(self, views: list[MessageView]) -> None:
        """Replace everything with these messages and follow the bottom."""
        self._unfold(len(self._folded))
        await self.remove_children([part for view in self.views for part in view.parts])
        self.views = list(views)
        await self.mount_all(self._parts(self.views))
        self.anchor()

    async def append(self, view: MessageView) -> bool:
        """Add a message at the bottom; True when older ones were unmounted to make room,
        which happens only while the reader follows the bottom (not scrolled up to read)."""
        following = self.is_anchored and self.scroll_y >= self.max_scroll_y
        self.views.append(view)
        await self.mount_all(view.parts)
        excess = len(self.views) - MAX_MOUNTED
        if excess <= 0 or not following:
            return False
        gone, self.views = self.views[:excess], self.views[excess:]
        await self.remove_views(gone)
        return True

    async def prepend(self, views: list[MessageView]) -> None:
        """Add older messages above the first, keeping the first where it was on screen."""
        self._unfold(len(self._folded))
        first = self.views[0].parts[0] if self.views else None
        self.views[:0] = views
        await self.mount_all(self._parts(views), after=self.spacer)
        if first is not None:
            self.scroll_to_widget(first, top=True, animate=False)

    async def remove_views(self, views: list[MessageView]) -> None:
        """Take these messages off the screen."""
        parts = set(self._parts(views))
        gone = [(part, rows) for part, rows in self._folded if part in parts]
        if gone:
            self._folded = [item for item in self._folded if item[0] not in parts]
            self._set_spacer(self._spacer_rows() - sum(rows for _, rows in gone))
        self.views = [view for view in self.views if view not in views]
        for view in views:
            view.cancel()
        await self.remove_children(list(parts))

    @staticmethod
    def _parts(views: list[MessageView]) -> list[Widget]:
        return [part for view in views for part in view.parts]

    # ------------------------------------------------------------ folding

    def _refold(self) -> None:
        self._refold_pending = False
        self._unfold_if_resized()
        scroll_y = self.scroll_y
        screen_rows = max(self.scrollable_content_region.height, 1)
        shown_above = scroll_y - self._spacer_rows()
        if shown_above > FOLD_ABOVE * screen_rows:
            self._fold(int(scroll_y) - KEEP_ABOVE * screen_rows)
        elif self._folded and shown_above < KEEP_ABOVE * screen_rows:
            self._unfold_to(int(scroll_y) - FOLD_ABOVE * screen_rows)

    def _fold(self, limit: int) -> None:
        """Hide the shown parts that end above ``limit`` (a row of the scrolled content)."""
        shown = [child for child in self.children[1:] if child.display]
        folding: list[tuple[Widget, int]] = []
        top = self._spacer_rows()
        width = self.scrollable_content_region.width
        for part, after in pairwise(shown):
            next_top = after.virtual_region.y
            if next_top > limit or next_top < top:  # far enough, or not laid out yet
                break
            if part.virtual_region.width != width:  # laid out at another width: later
                self._schedule_refold()
                break
            folding.append((part, next_top - top))
            top = next_top
        if not folding:
            return
        self._fold_width = width
        for part, _ in folding:
            part.display = False
        self._folded += folding
        self._set_spacer(top)

    def _unfold_to(self, limit: int) -> None:
        """Show folded parts again until the spacer ends above ``limit``."""
        rows, count = self._spacer_rows(), 0
        for _, span in reversed(self._folded):
            if rows <= max(limit, 0):
                break
            rows -= span
            count += 1
        self._unfold(count)

    def _unfold(self, count: int) -> None:
        if not count:
            return
        unfolding, self._folded = self._folded[-count:], self._folded[:-count]
        for part, _ in unfolding:
            part.display = True
        self._set_spacer(self._spacer_rows() - sum(span for _, span in unfolding))

    def _spacer_rows(self) -> int:
        height = self.spacer.styles.height
        return int(height.value) if self.spacer.display and height is not None else 0

    def _set_spacer(self, rows: int) -> None:
        self.spacer.styles.height = max(rows, 0)
        self.spacer.display = rows > 0
