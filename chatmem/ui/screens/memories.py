"""The memory browser: groups with counts, a filtered list, a detail pane; edits go to the worker.

Nothing here reads the store: the screen asks (``ListMemories``, ``ShowMemory``) and draws the
answers, dropping any answer to a question it has since replaced. Every change comes back as
a ``MemoryChanged`` event, which refreshes what is shown — whoever made the change.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property, partial
from typing import TYPE_CHECKING

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from chatmem import protocol as p
from chatmem.ui.messages import WorkerEvent
from chatmem.ui.screens.forms import Confirm, MemoryForm
from chatmem.ui.widgets.footer import Footer

if TYPE_CHECKING:
    from chatmem.ui.api import AppAPI

GROUP_NAMES = {
    "self": "Self",
    "person": "People",
    "event": "Events",
    "fact": "Facts",
    "conversation": "Conversations",
    "all": "All",
}
KIND_NAMES = {"person": "Person", "event": "Event", "fact": "Fact", "conversation": "Conversation"}
REPLACED_BY = {"user": "you", "extraction": "the assistant", "import": "an import"}
PAGE = 100  # rows asked for at a time: an OptionList of hundreds costs a frame to build
FILTER_HINT = "Filter: words, type:person, pinned, recalled, superseded, after:2024-11…"


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def group_prompt(group: str, counts: dict[str, int]) -> str:
    return f"{GROUP_NAMES[group]} [dim]{counts.get(group, 0):,}[/dim]"


def row_prompt(row: p.MemoryRow) -> Content:
    day = dt.datetime.fromtimestamp(row.updated).strftime("%Y-%m-%d")
    title = Content(row.title).stylize("strike") if row.superseded else Content(row.title)
    return Content.assemble((day, "dim"), " ", "📌 " if row.pinned else "", title)


def detail_text(record: p.MemoryRecord, labels: dict[str, str], open_key: str) -> Content:
    """The memory in full; what it holds is plain text, never markup. ``open_key`` opens
    the conversation it was learnt in."""
    dim = partial(Content.styled, style="dim")
    row = record.row
    kind = "Self" if row.is_self else KIND_NAMES[row.kind]
    state = [kind]
    if row.pinned:
        state.append("pinned")
    if row.superseded:
        state.append("[$warning]superseded[/]")
    lines = [Content.from_markup(f"[b]{' · '.join(state)}[/b]"), Content(record.text), Content()]
    width = max(len(labels[key]) for key, _ in record.values)
    for key, value in record.values:
        shown = Content(value) if value else dim("—")
        lines.append(Content.assemble((f"{labels[key]:<{width}}", "bold"), "  ", shown))
    lines += [Content(), dim(f"Created {when(record.created)} · updated {when(row.updated)}")]
    if record.session_id and row.kind != "conversation":
        said = f", message {record.message_ids[0]}" if record.message_ids else ""
        lines.append(dim(f"Learnt in session {record.session_id}{said} — {open_key} opens it"))
    if record.superseded_by:
        lines.append(dim(f"Superseded by {record.superseded_by}"))
    if record.history:
        lines += [Content(), Content.styled("Earlier versions", "bold")]
        for version in reversed(record.history):
            by = REPLACED_BY.get(version.by, version.by)
            lines.append(dim(f"{when(version.at)}, replaced by {by}:"))
            lines.append(Content(f"  {version.text}"))
    if record.transcript:
        lines += [Content(), Content.from_markup("[b]Transcript[/b] [dim](read-only)[/dim]")]
        for message in record.transcript:
            who = "You" if message.role == "user" else "Assistant"
            lines.append(Content.assemble((who, "bold"), " ", (when(message.created), "dim")))
            lines.append(Content(message.content))
    return Content("\n").join(lines)


class MemoryBrowser(Screen):
    if TYPE_CHECKING:
        app = getters.app(AppAPI)

    BINDINGS = [
        Binding("escape,f3", "close", "Back to chat", id="memories.close"),
        Binding("slash", "focus_filter", "Filter", id="memories.filter"),
        Binding("a", "add", "Add", id="memories.add"),
        Binding("e", "edit", "Edit", id="memories.edit"),
        Binding("d", "delete", "Delete", id="memories.delete"),
        Binding("p", "pin", "Pin", id="memories.pin"),
        Binding("u", "app.undo_memory", "Undo", id="memories.undo"),
        Binding("s", "toggle_superseded", "Superseded", id="memories.superseded"),
        Binding("o", "open_source", "Open source", id="memories.open_source"),
        Binding("r", "recalled", "Last request", id="memories.recalled"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.group = "all"
        self.show_superseded = False
        self.rows: list[p.MemoryRow] = []
        self.total = 0  # memories matching, of which rows holds the newest
        self.limit = PAGE
        self.counts: dict[str, int] = {}
        self.record: p.MemoryRecord | None = None
        self.selected = ""  # memory id shown in the detail pane
        self._list_request = ""
        self.listed = ""  # the list request whose answer is on screen
        self._show_request = ""
        self._pending_select = ""  # select this memory when the list next arrives

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal():
            yield OptionList(id="groups")
            with Vertical(id="list-pane"):
                yield Input(placeholder=FILTER_HINT, id="filter")
                yield OptionList(id="memories")
                yield Static("", id="list-status")
            with VerticalScroll(id="detail"):
                yield Static("[dim]Nothing selected.[/dim]", id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Memories"
        self.query_one("#groups", OptionList).add_options(
            Option(group_prompt(group, {}), id=group) for group in GROUP_NAMES
        )
        self.query_one("#groups", OptionList).highlighted = list(GROUP_NAMES).index(self.group)
        self.query_one("#memories", OptionList).focus()

    def on_screen_resume(self) -> None:
        """Shown (again): what changed while it was not is asked for anew."""
        self.refresh_list()
        if self.selected:
            self.show_memory(self.selected)

    @cached_property
    def keys(self) -> dict[str, str]:
        return self.app.keys_for(self)

    # ------------------------------------------------------------ asking the worker

    def refresh_list(self, more: bool = False) -> None:
        """Ask for the list again (``more``: a page more of it, as the user scrolls down)."""
        self.limit = self.limit + PAGE if more else PAGE
        request = p.ListMemories(
            self.query_one("#filter", Input).value, self.group, self.show_superseded, self.limit
        )
        self._list_request = request.id
        self.app.send(request)

    def show_memory(self, memory_id: str) -> None:
        self.selected = memory_id
        request = p.ShowMemory(memory_id)
        self._show_request = request.id
        self.app.send(request)

    def select(self, memory_id: str) -> None:
        """Show this memory and highlight it in the list once it is there (from the sidebar)."""
        self._pending_select = memory_id
        self.show_memory(memory_id)
        ids = [row.id for row in self.rows]
        if memory_id in ids:
            self.query_one("#memories", OptionList).highlighted = ids.index(memory_id)

    # ------------------------------------------------------------ events from the worker

    def on_worker_event(self, message: WorkerEvent) -> None:
        match event := message.event:
            case p.MemoryList() if event.request_id == self._list_request:
                self._show_list(event)
            case p.MemoryShown() if event.request_id == self._show_request:
                self._show_detail(event.record)
            case p.MemoryChanged():  # whoever made it: the list and the detail follow
                if event.memory_id and event.verb != "Forgot":
                    self._pending_select = event.memory_id
                self.refresh_list()
                if self.selected:
                    self.show_memory(self.selected)

    def _show_list(self, event: p.MemoryList) -> None:
        counts = self.counts = dict(event.groups)
        groups = self.query_one("#groups", OptionList)
        for index, group in enumerate(GROUP_NAMES):
            groups.replace_option_prompt_at_index(index, group_prompt(group, counts))
        self.rows = list(event.rows)
        self.total = event.total
        listing = self.query_one("#memories", OptionList)
        keep = self._pending_select or self.selected
        listing.set_options(Option(row_prompt(row), id=row.id) for row in self.rows)
        ids = [row.id for row in self.rows]
        if keep in ids:
            listing.highlighted = ids.index(keep)
        elif ids:
            listing.highlighted = 0
        else:
            self._show_detail(None)
        self._pending_select = ""
        shown = len(self.rows)
        if not event.total and self.query_one("#filter", Input).value.strip():
            status = "Nothing matches this filter."
        elif shown == event.total:
            status = f"{event.total:,} {'memory' if event.total == 1 else 'memories'}"
        else:
            status = f"{shown:,} newest of {event.total:,} (more as you scroll down)"
        self.query_one("#list-status", Static).update(f"[dim]{status}[/dim]")
        self.listed = event.request_id

    def _show_detail(self, record: p.MemoryRecord | None) -> None:
        self.record = record
        body = self.query_one("#detail-body", Static)
        if record is None:
            self.selected = ""
            body.update("[dim]Nothing selected.[/dim]")
            return
        labels = {key: label for key, label, _ in p.FORM[record.row.kind]}
        body.update(detail_text(record, labels, self.keys["memories.open_source"]))

    # ------------------------------------------------------------ the user

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refresh_list()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#memories", OptionList).focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        option_id = event.option.id or ""
        if event.option_list.id == "groups":
            if option_id != self.group:
                self.group = option_id
                self.refresh_list()
        else:
            if option_id != self.selected:
                self.show_memory(option_id)
            near_end = event.option_index >= len(self.rows) - 5
            if near_end and self.total > len(self.rows) and self.listed == self._list_request:
                self.refresh_list(more=True)

    def on_key(self, event) -> None:
        if event.key == "down" and self.focused is self.query_one("#filter", Input):
            self.query_one("#memories", OptionList).focus()
            event.stop()

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_recalled(self) -> None:
        """What went into the last request: the sidebar's list, here to browse."""
        self.group = "all"
        self.query_one("#filter", Input).value = "recalled"  # refreshes the list

    def action_toggle_superseded(self) -> None:
        self.show_superseded = not self.show_superseded
        shown = "shown" if self.show_superseded else "hidden"
        self.notify(f"Superseded memories {shown}.", timeout=3)
        self.refresh_list()

    def action_add(self) -> None:
        kind = self.group if self.group in ("person", "event", "fact") else "fact"
        self.app.push_screen(MemoryForm(kind, "", ()))

    def action_edit(self) -> None:
        record = self.record
        if record is None:
            return
        if record.row.kind == "conversation":
            self.notify("Journal entries are read-only.", timeout=4)
            return
        self.app.push_screen(MemoryForm(record.row.kind, record.row.id, record.values))

    def action_delete(self) -> None:
        record = self.record
        if record is None:
            return
        if record.row.is_self:
            self.notify("The assistant's own record cannot be deleted.", severity="warning")
            return

        def confirmed(answer: str | None) -> None:
            if answer == "yes":
                self.app.send(p.DeleteMemory(record.row.id))

        question = f"Delete this {record.row.kind}?\n\n{record.text}"
        self.app.push_screen(Confirm(question, "Delete"), confirmed)

    def action_pin(self) -> None:
        if self.record is not None:
            self.app.send(p.PinMemory(self.record.row.id, not self.record.row.pinned))

    def action_open_source(self) -> None:
        record = self.record
        if record is None or not record.session_id:
            self.notify("This memory does not come from a conversation.", timeout=3)
            return
        focus = record.message_ids[0] if record.message_ids else ""
        self.app.send(p.OpenSession(record.session_id, focus))
        self.app.pop_screen()
