"""Textual's footer, rebuilt only when the keys it shows change, and after the first frame.

The stock footer rebuilds every key (some fifteen widgets) for each change of the screen's
bindings, and a screen changes them often without changing what the footer shows: several
times while it comes up (mount, focus, keymap), and at the first key typed (the app gains
the focus). This one coalesces a burst of changes into one look at the bindings, and rebuilds
only if what it shows differs. While the app starts it shows no keys: it builds them once
the first frame, and the keys typed meanwhile, are on the screen (``AppAPI.started``).
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter

from chatmem.ui.api import AppAPI


class Footer(TextualFooter):
    _rebuild_pending = False
    _shown: tuple[Any, ...] = ()  # the keys it shows, as _keys() gave them

    def bindings_changed(self, screen: Screen) -> None:
        """As Textual's, but a rebuild already waiting takes this change along, and there is
        none before the app has started (it refreshes the bindings then)."""
        app = screen.app
        if isinstance(app, AppAPI) and not app.started.is_set():
            return
        self._bindings_ready = True
        if self._rebuild_pending or not app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self._rebuild_pending = True
            # On the footer's own queue: a burst of changes arrives before it is read, and,
            # unlike call_after_refresh, it does not land on a screen that may be gone.
            self.call_later(self._rebuild)

    def _keys(self) -> tuple[Any, ...]:
        """Everything of the screen's bindings the keys are built from."""
        display = self.app.get_key_display
        return tuple(
            (b.key, display(b), b.action, b.description, b.show, b.group, enabled, tooltip)
            for _, b, enabled, tooltip in self.screen.active_bindings.values()
        )

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        keys = self._keys()
        if keys != self._shown:
            self._shown = keys
            await self.recompose()
