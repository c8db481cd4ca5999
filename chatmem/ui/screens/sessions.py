"""The sessions screen: every conversation of the profile, and search across all of them.

Like the memory browser it only asks the worker (``ListSessions``, ``SearchSessions``) and
draws the answers; every change comes back as a fresh ``SessionList``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from chatmem import protocol as p
from chatmem.ui.messages import WorkerEvent
from chatmem.ui.screens.forms import Ask, Confirm
from chatmem.ui.widgets.footer import Footer

if TYPE_CHECKING:
    from chatmem.ui.api import AppAPI

SEARCH_HINT = "Search every conversation: words in any message…"
UNTITLED = "Untitled conversation"


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def count(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else f"{n:,}"


def session_prompt(row: p.SessionRow, current: str) -> Content:
    s = row.session
    mark = "●" if s.id == current else " "
    return Content.assemble(
        (f"{mark} {when(s.updated or s.created)}  ", "dim"),
        (f"{count(s.message_count):>6} msg {count(s.tokens):>7} tok  ", "dim"),
        s.title or UNTITLED,
    )


def hit_prompt(hit: p.SearchHit) -> Content:
    who = "You" if hit.role == "user" else "Assistant"
    parts = [
        (hit.session_title or UNTITLED, "bold"),
        (f" · {when(hit.created)} · {who}\n", "dim"),
    ]
    if hit.replying_to:
        parts.append((f"  ↳ after: {hit.replying_to}\n", "dim"))
    snippet = Content("  " + hit.snippet)
    for start, end in hit.marks:
        snippet = snippet.stylize("reverse", start + 2, end + 2)
    return Content.assemble(*parts, snippet)


def file_name(title: str, ext: str) -> str:
    slug = re.sub(r"[^\w]+", "-", title.lower(), flags=re.UNICODE).strip("-")[:40]
    return f"{slug or 'conversation'}.{ext}"


class SessionsScreen(Screen):
    if TYPE_CHECKING:
        app = getters.app(AppAPI)

    BINDINGS = [
        Binding("escape,f5", "close", "Back to chat", id="sessions.close"),
        Binding("slash", "focus_search", "Search", id="sessions.search"),
        Binding("n", "new", "New", id="sessions.new"),
        Binding("r", "rename", "Rename", id="sessions.rename"),
        Binding("d", "delete", "Delete", id="sessions.delete"),
        Binding("x", "export", "Export", id="sessions.export"),
        Binding("i", "import_file", "Import", id="sessions.import"),
        Binding("p", "profile", "Profile", id="sessions.profile"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.listing: p.SessionList | None = None
        self.results: p.SearchResults | None = None
        self._list_request = ""
        self._search_request = ""

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Input(placeholder=SEARCH_HINT, id="search")
        yield OptionList(id="sessions")
        yield Static("", id="sessions-status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Conversations"
        self.query_one("#sessions", OptionList).focus()

    def on_screen_resume(self) -> None:
        """Shown (again): the list as it is now."""
        self.refresh_list()

    # ------------------------------------------------------------ asking the worker

    def refresh_list(self) -> None:
        request = p.ListSessions()
        self._list_request = request.id
        self.app.send(request)

    def _search(self, query: str) -> None:
        if not query.strip():
            self.results = None
            self._search_request = ""
            self._draw()
            return
        request = p.SearchSessions(query)
        self._search_request = request.id
        self.app.send(request)

    # ------------------------------------------------------------ events from the worker

    def on_worker_event(self, message: WorkerEvent) -> None:
        match event := message.event:
            case p.SessionList():
                self.listing = event  # after any change, whoever asked
                if self.results is not None:
                    self._search(self.results.query)  # titles and hits may have changed
                self._draw()
            case p.SearchResults() if event.request_id == self._search_request:
                self.results = event
                self._draw()

    def _draw(self) -> None:
        options = self.query_one("#sessions", OptionList)
        keep = options.highlighted
        options.clear_options()
        status = self.query_one("#sessions-status", Static)
        if self.results is not None:
            hits = self.results.hits
            options.add_options([Option(hit_prompt(hit)) for hit in hits])
            total = self.results.total
            if not total:
                text = "No message matches."
            elif total > len(hits):
                text = f"{total:,} messages match; the newest {len(hits)} are shown"
            else:
                text = f"{total:,} {'message matches' if total == 1 else 'messages match'}"
            status.update(f"[dim]{text} · Enter opens the conversation at that message[/dim]")
        elif self.listing is not None:
            rows = self.listing.rows
            current = self.listing.current
            options.add_options([Option(session_prompt(row, current)) for row in rows])
            noun = "conversation" if len(rows) == 1 else "conversations"
            status.update(
                Content.from_markup(
                    f"[dim]Profile [b]$profile[/b] · {len(rows):,} {noun} · "
                    "● the one in the chat[/dim]",
                    profile=self.listing.profile,
                )
            )
        if options.option_count:
            options.highlighted = min(keep or 0, options.option_count - 1)

    # ------------------------------------------------------------ the user

    def on_input_changed(self, event: Input.Changed) -> None:
        self._search(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#sessions", OptionList).focus()

    def on_key(self, event) -> None:
        if event.key == "down" and self.focused is self.query_one("#search", Input):
            self.query_one("#sessions", OptionList).focus()
            event.stop()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = event.option_index
        if self.results is not None:
            hit = self.results.hits[index]
            self.app.send(p.OpenSession(hit.session_id, hit.message_id))
        elif self.listing is not None:
            self.app.send(p.OpenSession(self.listing.rows[index].session.id))
        self.app.pop_screen()

    def _selected(self) -> tuple[p.SessionInfo, int] | None:
        """The highlighted session (a search hit's session) and its memory count."""
        index = self.query_one("#sessions", OptionList).highlighted
        if index is None or self.listing is None:
            return None
        rows = {row.session.id: row for row in self.listing.rows}
        if self.results is not None:
            session_id = self.results.hits[index].session_id
        else:
            session_id = self.listing.rows[index].session.id
        row = rows.get(session_id)
        return (row.session, row.memories) if row is not None else None

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_new(self) -> None:
        self.app.send(p.EndSession())
        self.app.pop_screen()

    def action_rename(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        session = selected[0]

        def renamed(title: str | None) -> None:
            if title:
                self.app.send(p.RenameSession(session.id, title))

        self.app.push_screen(Ask("Rename this conversation:", session.title), renamed)

    def action_delete(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        session, memories = selected
        also = f"Delete it and its {memories} memories" if memories else ""
        question = (
            f"Delete “{session.title or UNTITLED}” "
            f"({session.message_count:,} messages)?\n\n"
            + (
                f"The {memories:,} memories learnt in it stay unless you press m."
                if memories
                else "No memory was learnt in it."
            )
        )

        def confirmed(answer: str | None) -> None:
            if answer:
                self.app.send(p.DeleteSession(session.id, answer == "also"))

        self.app.push_screen(Confirm(question, "Delete", also), confirmed)

    def action_export(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        session = selected[0]

        def chosen(path: str | None) -> None:
            if path:
                self.app.send(p.ExportSession(session.id, path))

        self.app.push_screen(
            Ask(
                f"Export “{session.title or UNTITLED}” to the file:",
                file_name(session.title, "md"),
                "Markdown, or JSON to import later when the name ends in .json. A name alone "
                "goes in the folder chatmem was started from.\n",
            ),
            chosen,
        )

    def action_import_file(self) -> None:
        def chosen(path: str | None) -> None:
            if path:
                self.app.send(p.ImportSession(path))

        self.app.push_screen(
            Ask("Import a conversation from a JSON export (x on a conversation makes one):"),
            chosen,
        )

    def action_profile(self) -> None:
        if self.listing is None:
            return
        listing = self.listing
        others = ", ".join(name for name in listing.profiles if name != listing.profile)

        def chosen(name: str | None) -> None:
            if name and name != listing.profile:
                self.app.send(p.SwitchProfile(name))
                self.app.pop_screen()

        self.app.push_screen(
            Ask(
                f"Switch from profile “{listing.profile}” to:",
                hint=(f"Other profiles: {others}. " if others else "")
                + "A new name makes a new, empty profile.\n",
            ),
            chosen,
        )
