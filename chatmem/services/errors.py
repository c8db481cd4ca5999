"""What a service raises when it cannot do what was asked: ``str()`` is the sentence for the
user. The worker turns each into its event in one place (``chatmem.worker.answers``); the
headless commands print it."""

from __future__ import annotations

from chatmem.domain.errors import ErrorInfo


class ServiceError(Exception):
    """A request refused or not done; nothing was changed."""

    level = "warning"  # how the app shows it: "information" | "warning" | "error"

    def __init__(self, message: str, level: str = "") -> None:
        super().__init__(message)
        if level:
            self.level = level


class NotFound(ServiceError):
    """What the request names is not stored (any more)."""


class Refused(ServiceError):
    """The request breaks a rule (the assistant's own record cannot be deleted, …)."""


class NothingToDo(ServiceError):
    """The request asks for nothing that can be done ("Nothing to undo.")."""

    level = "information"


class Unchanged(NothingToDo):
    """An edit that changes nothing: nothing was written."""


class Invalid(ServiceError):
    """Input that breaks the form's rules; ``problems`` lists each as (field, why)."""

    def __init__(self, problems: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(f"{k}: {v}" if k else v for k, v in self.problems))


class Unreadable(ServiceError):
    """A file to import that cannot be read or is not what it should be."""

    level = "error"


class NotSaved(ServiceError):
    """A file that could not be written (``path``, the system's ``problem``)."""

    level = "error"

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"Could not write {path}: {problem}")
        self.path = path
        self.problem = problem


class NotSent(ServiceError):
    """A message refused before it was stored (too long, a read-only profile, a full disk):
    ``error`` says why, as the chat shows it."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(f"{error.title}: {error.message}")
        self.error = error
