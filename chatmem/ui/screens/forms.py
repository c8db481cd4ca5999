"""Modal forms: add or edit a memory, confirm a deletion, ask for a line of text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from chatmem import protocol as p
from chatmem.ui.messages import WorkerEvent

if TYPE_CHECKING:
    from chatmem.ui.api import AppAPI

ADDABLE = ("person", "event", "fact")  # journal entries come from sessions, not the form


class MemoryForm(ModalScreen[None]):
    """A field per attribute; the worker checks and saves, or says what is wrong."""

    if TYPE_CHECKING:
        app = getters.app(AppAPI)

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, kind: str, memory_id: str, values: tuple[tuple[str, str], ...]) -> None:
        super().__init__()
        self.kind = kind
        self.memory_id = memory_id
        self.values = dict(values)
        self.request = ""  # the SaveMemory waiting for an answer

    def compose(self) -> ComposeResult:
        verb = "Edit" if self.memory_id else "New"
        with VerticalScroll(id="form-box"):
            yield Static(f"[b]{verb} {self.kind}[/b]", id="form-title")
            if not self.memory_id:
                yield Select(
                    [(k.title(), k) for k in ADDABLE],
                    value=self.kind,
                    allow_blank=False,
                    id="form-kind",
                )
            for key, label, hint in p.FORM[self.kind]:
                yield Label(label, classes="form-label")
                yield Input(self.values.get(key, ""), placeholder=hint, id=f"field-{key}")
                yield Static("", id=f"problem-{key}", classes="form-problem")
            yield Static("", id="problem-", classes="form-problem")
            yield Static("[dim]Ctrl+S saves · Esc cancels[/dim]", id="form-keys")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.value != self.kind and isinstance(event.value, str):
            self.values.update(self._typed())
            self.kind = event.value
            await self.recompose()
            self.on_mount()

    def _typed(self) -> dict[str, str]:
        fields = p.FORM[self.kind]
        return {key: self.query_one(f"#field-{key}", Input).value for key, _, _ in fields}

    def action_save(self) -> None:
        for problem in self.query(".form-problem"):
            problem.remove_class("-shown")
        request = p.SaveMemory(self.memory_id, self.kind, tuple(self._typed().items()))
        self.request = request.id
        self.app.send(request)

    def on_worker_event(self, message: WorkerEvent) -> None:
        """Saved: done; or what is wrong, said under its field."""
        if not self.request:
            return  # nothing asked yet: another change, not this form's
        match event := message.event:
            case p.MemoryChanged() if event.request_id == self.request:
                self.dismiss()
            case p.MemoryInvalid() if event.request_id == self.request:
                self._show_problems(event)

    def _show_problems(self, event: p.MemoryInvalid) -> None:
        for key, text in event.problems:
            found = self.query(f"#problem-{key}")
            target = found.first(Static) if found else self.query_one("#problem-", Static)
            target.update(Content.from_markup("[$error]$text[/]", text=text))
            target.add_class("-shown")
        first = next((key for key, _ in event.problems if key), "")
        if first and self.query(f"#field-{first}"):
            self.query_one(f"#field-{first}", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss()


class Confirm(ModalScreen[str]):
    """A yes/no question, with an optional third answer (``also``, key m); dismissed with
    "yes", "also" or ""."""

    BINDINGS = [
        Binding("y,enter", "answer('yes')", "Yes", show=False),
        Binding("m", "answer('also')", show=False),
        Binding("n,escape", "answer('')", "No", show=False),
    ]

    def __init__(self, question: str, yes: str, also: str = "") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.also = also

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="confirm-box"):
            yield Static(Content(self.question))
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                if self.also:
                    yield Button(f"{self.also} (m)", variant="error", id="also")
                yield Button("Cancel (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer("" if event.button.id == "no" else str(event.button.id))

    def action_answer(self, answer: str) -> None:
        if answer != "also" or self.also:
            self.dismiss(answer)


class Ask(ModalScreen[str | None]):
    """One line of text: Enter gives it back, Esc gives None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", hint: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.hint = hint

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="confirm-box"):
            yield Static(Content(self.question))
            yield Input(self.value, id="answer")
            yield Static(
                Content.styled(f"{self.hint}Enter to confirm · Esc to cancel", "dim"),
                id="form-keys",
            )

    def on_mount(self) -> None:
        self.query_one("#answer", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
