"""Textual's footer, rebuilt once per burst of binding changes.

The stock footer rebuilds every key for each change of the screen's bindings, and a screen
coming up changes them several times in a row (mount, focus, keymap): five rebuilds of some
fifteen keys before the first paint. This one coalesces them into one.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    _rebuild_pending = False

    def bindings_changed(self, screen: Screen) -> None:
        """As Textual's, but a rebuild already waiting takes this change along."""
        self._bindings_ready = True
        if self._rebuild_pending or not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self._rebuild_pending = True
            # On the footer's own queue: a burst of changes arrives before it is read, and,
            # unlike call_after_refresh, it does not land on a screen that may be gone.
            self.call_later(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        await self.recompose()
