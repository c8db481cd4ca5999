"""Streaming chat against OpenAI or any OpenAI-compatible server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import httpx2
import openai
from openai import AsyncOpenAI

from chatmem.config import Settings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

log = logging.getLogger(__name__)

LOCAL_KEY = "sk-no-key-needed"  # local servers ignore the key, but the client wants one
EMBEDDING_DIMENSIONS = 512  # a third of text-embedding-3-small's 1536, nearly as good for recall


class Overrun(ValueError):
    """A bounded answer stopped at its ``max_tokens`` (``finish_reason: length``): unfinished."""


@dataclass(frozen=True)
class Finish:
    reason: str | None  # None: the stream ended without saying why (a cut connection)
    prompt_tokens: int | None = None  # from the server's usage, when it sent one
    completion_tokens: int | None = None


class _Client(AsyncOpenAI):
    """Retries what may pass (429, 5xx, a dropped connection) but not a timeout: retried,
    a timeout of 10 s took 31 to report."""

    async def _send_request(self, request: httpx2.Request, **kwargs) -> httpx2.Response:
        try:
            return await super()._send_request(request, **kwargs)
        except httpx2.TimeoutException as exc:  # an OpenAIError: raised as it is, not retried
            raise openai.APITimeoutError(request=request) from exc


def make_client(
    settings: Settings,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
) -> AsyncOpenAI:
    """A client that does not follow redirects: a POST redirected becomes a GET elsewhere,
    whose 404 read as "model not found"; the redirect itself is reported instead."""
    return _Client(
        api_key=api_key or settings.api_key or LOCAL_KEY,
        base_url=base_url or settings.base_url,
        timeout=timeout or settings.request_timeout,
        max_retries=0 if timeout else settings.max_retries,
        http_client=openai.DefaultAsyncHttpxClient(follow_redirects=False),
    )


class LLM:
    """One AsyncOpenAI client; remembers whether the server takes ``stream_options``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = make_client(settings)
        self.once = self.client.with_options(max_retries=0)  # background work: never retried
        self._stream_options = True
        self._json_modes = ["json_schema", "json_object", "text"]  # tried in this order

    async def stream(
        self, messages: list[dict[str, str]], model: str, max_tokens: int | None = None
    ) -> AsyncIterator[str | Finish]:
        """Yield text deltas, then one ``Finish``. A stream that said why it finished is
        complete even if the connection then broke before ``[DONE]``."""
        stream = await self._open(messages, model, {"max_tokens": max_tokens} if max_tokens else {})
        reason: str | None = None
        usage = None
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
                    if choice.finish_reason:
                        reason = choice.finish_reason
        except (httpx2.TransportError, openai.APIConnectionError) as exc:
            if reason is None:
                raise
            log.info("the stream broke after it finished (%s): the reply is whole", exc)
        yield Finish(
            reason,
            usage.prompt_tokens if usage else None,
            usage.completion_tokens if usage else None,
        )

    async def _open(self, messages: list[dict[str, str]], model: str, extra: dict[str, Any]):
        if self._stream_options:
            try:
                return await self.client.chat.completions.create(
                    model=model,
                    messages=_wire(messages),
                    stream=True,
                    stream_options={"include_usage": True},
                    **extra,
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if "stream_options" not in str(exc):
                    raise
                log.info("server rejects stream_options; streaming without usage")
                self._stream_options = False
        return await self.client.chat.completions.create(
            model=model, messages=_wire(messages), stream=True, **extra
        )

    async def complete(
        self, messages: list[dict[str, str]], model: str, max_tokens: int, **extra: Any
    ) -> str:
        """One whole answer of at most ``max_tokens``, asked once (background work is never
        retried). Streamed, so that stopping it stops the server's work too (llama.cpp computes
        an abandoned non-streamed request to its end). Raises ``Overrun`` when it stopped at
        the limit or ended without saying why."""
        stream = await self.once.chat.completions.create(
            model=model, messages=_wire(messages), stream=True, max_tokens=max_tokens, **extra
        )
        parts: list[str] = []
        reason = None
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    parts.append(choice.delta.content)
                reason = choice.finish_reason or reason
        if reason in ("length", None):
            raise Overrun(f"stopped at max_tokens={max_tokens}" if reason else "ended early")
        return "".join(parts)

    async def complete_json(
        self, messages: list[dict[str, str]], model: str, name: str, schema: dict, max_tokens: int
    ) -> str:
        """An answer asked for as JSON: a schema if the server takes one, else JSON mode,
        else plain text (the caller finds the JSON in it). Remembers what the server refused.
        """
        while True:
            mode = self._json_modes[0]
            extra: dict[str, Any] = {}
            if mode == "json_schema":
                extra["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema},
                }
            elif mode == "json_object":
                extra["response_format"] = {"type": "json_object"}
            try:
                return await self.complete(messages, model, max_tokens, **extra)
            except (
                openai.BadRequestError,
                openai.UnprocessableEntityError,
                openai.InternalServerError,
            ) as exc:
                if mode == "text" or ("response_format" not in str(exc) and mode not in str(exc)):
                    raise
                log.info("server refuses response_format %s; trying the next way", mode)
                self._json_modes.pop(0)

    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        """One vector per text (``/v1/embeddings``); OpenAI's v3 models answer in 512 dimensions."""
        extra: dict[str, Any] = {}
        if model.startswith("text-embedding-3"):
            extra["dimensions"] = EMBEDDING_DIMENSIONS
        response = await self.client.embeddings.create(
            model=model, input=texts, encoding_format="float", **extra
        )
        ordered = sorted(response.data, key=lambda item: item.index)
        return [list(item.embedding) for item in ordered]

    async def list_models(
        self, base_url: str | None = None, api_key: str | None = None, timeout: float | None = None
    ) -> list[str]:
        """Model ids the server offers (``/v1/models``)."""
        if not (base_url or api_key or timeout):
            page = await self.client.models.list()
            return sorted(m.id for m in page.data)
        async with make_client(self.settings, base_url, api_key, timeout) as client:
            page = await client.models.list()
        return sorted(m.id for m in page.data)

    async def close(self) -> None:
        await self.client.close()


def _wire(messages: list[dict[str, str]]) -> list[ChatCompletionMessageParam]:
    """Chat messages as the client's types name them (they are plain role/content dicts)."""
    return cast("list[ChatCompletionMessageParam]", messages)
