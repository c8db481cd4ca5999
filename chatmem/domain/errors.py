"""A failure told to the user: what happened, and what to do next."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorInfo:
    """A failure the user can act on; ``message`` names the base URL and model."""

    # no_model | no_key | auth | not_found | rate_limit | server | timeout | connection
    # | bad_request | too_large | cut | redirect | bad_response | storage | read_only | unknown
    kind: str
    title: str
    message: str  # what happened and what to change; no keys, so the CLI can print it too
    steps: tuple[str, ...] = ()  # binding ids the app offers next: "resend", "settings"
