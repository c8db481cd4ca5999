"""Map whatever the client raised to a message the user can act on."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from chatmem.domain.errors import ErrorInfo
from chatmem.logs import REDACTED, redact

if TYPE_CHECKING:
    import openai


def _server_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            text = str(message)[:300].strip()
            return text if text.endswith((".", "!", "?")) else text + "."
    return ""


def describe(exc: BaseException, base_url: str, model: str, timeout: float) -> ErrorInfo:
    """An ``ErrorInfo`` naming the server and model, and what to do next; no secret in it
    (the key sent, echoed by the server, or credentials in the base URL)."""
    info = _describe(exc, base_url, model, timeout)
    message = redact(info.message)
    request = getattr(exc, "request", None)
    sent = str(getattr(request, "headers", {}).get("authorization", "")).removeprefix("Bearer ")
    if len(sent) >= 4:  # a key typed in the settings is not registered yet
        message = message.replace(sent, REDACTED)
    return replace(info, message=message)


def _describe(exc: BaseException, base_url: str, model: str, timeout: float) -> ErrorInfo:
    import openai

    where = f"{base_url} (model {model})"
    if isinstance(exc, openai.APITimeoutError):
        return ErrorInfo(
            "timeout",
            "The server did not answer in time",
            f"No answer from {where} within {timeout:g} s. "
            "Check the server, or raise request_timeout.",
            ("resend",),
        )
    if isinstance(exc, openai.APIConnectionError):
        return ErrorInfo(
            "connection",
            "Cannot reach the server",
            f"Could not connect to {base_url}: is the server running and the base URL right?",
            ("resend", "settings"),
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ErrorInfo(
            "auth",
            "The API key was rejected",
            f"{base_url} refused the API key ({exc.status_code}). Set OPENAI_API_KEY, "
            "or enter another key in the settings.",
            ("settings", "resend"),
        )
    if isinstance(exc, openai.NotFoundError):
        return ErrorInfo(
            "not_found",
            "Model not found",
            f"{base_url} has no model {model!r} (404). Pick another model, "
            "or check that the base URL ends in /v1.",
            ("settings", "resend"),
        )
    if isinstance(exc, openai.APIStatusError) and 300 <= exc.status_code < 400:
        location = exc.response.headers.get("location", "")
        target = str(exc.request.url.join(location)) if location else "another address"
        return ErrorInfo(
            "redirect",
            "The server sent the request elsewhere",
            f"{base_url} redirected it ({exc.status_code}) to {target}. If that is the "
            "server you meant, set the base URL to match (it ends in /v1).",
            ("settings",),
        )
    if isinstance(exc, openai.RateLimitError):
        detail = _server_text(exc)
        return ErrorInfo(
            "rate_limit",
            "Rate limited",
            f"{where} is rate limiting requests (429), still after retrying. "
            f"{detail + ' ' if detail else ''}Wait a moment before trying again.",
            ("resend",),
        )
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return ErrorInfo(
            "server",
            "The server failed",
            f"{where} answered with error {exc.status_code}. {_server_text(exc)}".strip(),
            ("resend",),
        )
    if isinstance(exc, openai.APIStatusError):
        return ErrorInfo(
            "bad_request",
            "The server refused the request",
            f"{where} answered {exc.status_code}: {_server_text(exc) or 'no detail'}",
        )
    if isinstance(exc, UnicodeDecodeError | ValueError):  # JSONDecodeError is a ValueError
        what = (
            "bytes that are not UTF-8 text"
            if isinstance(exc, UnicodeDecodeError)
            else "something that is not JSON"
        )
        return ErrorInfo(
            "bad_response",
            "The server's answer could not be read",
            f"{where} answered with {what}, not what an OpenAI-compatible API sends. "
            "Check the base URL (it usually ends in /v1).",
            ("settings", "resend"),
        )
    return ErrorInfo(
        "unknown",
        "Something went wrong",
        f"Talking to {where} failed: {type(exc).__name__}.",
        ("resend",),
    )


def no_key(base_url: str) -> ErrorInfo:
    return ErrorInfo(
        "no_key",
        "No API key",
        f"{redact(base_url)} needs an API key. Set OPENAI_API_KEY (environment or .env), "
        "or enter one in the settings.",
        ("settings", "resend"),
    )


def no_model(config_path: str) -> ErrorInfo:
    return ErrorInfo(
        "no_model",
        "No model configured",
        "Set OPENAI_API_KEY (and OPENAI_BASE_URL / CHATMEM_MODEL for another server) in the "
        f"environment or a .env file, or edit {config_path}.",
        ("settings", "resend"),
    )
