"""Token counts from the server's own tokenizer where it has one, else a calibrated estimate.

llama.cpp and vLLM answer ``/tokenize``, llama-cpp-python ``/extras/tokenize/count``: the
first request a reply makes probes which one the server speaks (once per server); after
that the texts of a turn not counted yet (the new message, the memory recalled for it, the
last reply) are counted together, each text once, within ``TOKENIZE_TIMEOUT`` — what the
server has not answered by then is estimated, so a slow server never holds the reply up.
Servers that cannot count (Ollama, LM Studio) report ``usage.prompt_tokens`` with each reply:
the estimate is scaled by what they said.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from chatmem.domain.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, TokenCounter

if TYPE_CHECKING:
    from chatmem.llm.client import LLM

log = logging.getLogger(__name__)

TOKENIZE_TIMEOUT = 1.0  # seconds a turn waits for exact counts before it estimates
KNOWN = 1024  # texts whose exact count is kept
RATIO_BOUNDS = (0.5, 2.5)  # a scale outside these is a broken usage, not a tokenizer
CALIBRATE_FROM = 50  # estimated tokens a request must have for its usage to calibrate

# Where each kind of server counts, and how: (path, body, the count in its answer).
_FLAVOURS = {
    "llama.cpp": ("/tokenize", lambda text, model: {"content": text}, "tokens"),
    "vllm": ("/tokenize", lambda text, model: {"model": model, "prompt": text}, "count"),
    "llama-cpp-python": (
        "/extras/tokenize/count",
        lambda text, model: {"model": model, "input": text},
        "count",
    ),
}


def _count_in(answer: object, key: str) -> int:
    value = answer.get(key) if isinstance(answer, dict) else None
    if key == "tokens" and isinstance(value, list):
        return len(value)
    if key == "count" and isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"no {key!r} in the answer")


class ServerCounter(TokenCounter):
    """A ``TokenCounter`` that also knows the counts the server's tokenizer gave, and scales
    its estimate by the ratio the server's usage showed. ``counting`` says which it does."""

    def __init__(self, model: str, base_url: str, probe: bool = True) -> None:
        super().__init__(model)
        self.base_url = base_url
        self._probe = probe  # False: no tokenizer to look for (OpenAI's API)
        self._flavour: str | None = None
        self._offset = 0  # what the server adds to every text it counts (a BOS token)
        self._known: OrderedDict[str, int] = OrderedDict()
        self.ratio = 1.0
        self.calibrated = False

    @property
    def counting(self) -> str:
        """ "server": its tokenizer's counts; "tiktoken": the model's own encoding;
        "calibrated": an estimate scaled by the server's usage; "estimate": a guess."""
        if self._flavour:
            return "server"
        return "calibrated" if self.calibrated else super().counting

    def count(self, text: str) -> int:
        if not text:
            return 0
        exact = self._known.get(text)
        if exact is not None:
            self._known.move_to_end(text)
            return exact
        raw = super().count(text)
        return max(round(raw * self.ratio), 1) if self._encoding is None else raw

    def known(self, content: str) -> int | None:
        """What ``content`` costs as a message, when this counter knows better than a count
        stored earlier: the server's count, or the estimate since it was calibrated."""
        if content in self._known or (self.calibrated and self._encoding is None):
            return self.count_message(content)
        return None

    # ------------------------------------------------------------ the server's counts

    async def learn(self, llm: LLM, texts: Iterable[str]) -> None:
        """Ask the server for the counts of ``texts`` not known yet (probing its tokenizer
        the first time), all at once, waiting at most ``TOKENIZE_TIMEOUT``."""
        wanted = list(dict.fromkeys(t for t in texts if t and t not in self._known))
        if not wanted or not self._probe:
            return
        client = llm.client.with_options(timeout=TOKENIZE_TIMEOUT, max_retries=0)
        try:
            async with asyncio.timeout(TOKENIZE_TIMEOUT):
                if self._flavour is None and not await self._find_flavour(client):
                    return
                counting = [asyncio.ensure_future(self._ask(client, t)) for t in wanted]
                try:
                    await asyncio.gather(*counting)
                finally:
                    for task in counting:
                        task.cancel()
        except TimeoutError:
            log.info("the server did not count in time: the rest is estimated")
        except Exception as exc:  # an estimate is always there to fall back to
            log.info("token counting failed (%s): estimating", type(exc).__name__)

    async def _find_flavour(self, client) -> bool:
        """Which ``/tokenize`` the server speaks, and what it adds to any text. Asked until
        the server answers: a server that was busy or down is asked again next turn."""
        import openai

        root = self.base_url.rstrip("/").removesuffix("/v1")
        for flavour, (path, body, key) in _FLAVOURS.items():
            try:
                empty = await client.post(root + path, cast_to=object, body=body("", self.model))
                offset = _count_in(empty, key)
                said = await client.post(root + path, cast_to=object, body=body("hi", self.model))
                if _count_in(said, key) <= offset:
                    raise ValueError("it counts nothing")
            except (openai.APIStatusError, ValueError) as exc:
                log.debug("no %s tokenizer at %s: %s", flavour, root, exc)
                continue
            log.info("%s counts tokens for %s (%s)", self.base_url, self.model, flavour)
            self._flavour, self._offset = flavour, offset
            self.estimated = False
            return True
        self._probe = False  # it said no to each: not asked again
        return False

    async def _ask(self, client, text: str) -> None:
        assert self._flavour is not None
        path, body, key = _FLAVOURS[self._flavour]
        root = self.base_url.rstrip("/").removesuffix("/v1")
        answer = await client.post(root + path, cast_to=object, body=body(text, self.model))
        self._known[text] = max(_count_in(answer, key) - self._offset, 0)
        while len(self._known) > KNOWN:
            self._known.popitem(last=False)

    # ------------------------------------------------------------ calibration

    def calibrate(self, messages: list[dict[str, str]], prompt_tokens: int) -> None:
        """Scale the estimate by what the server said ``messages`` took (its usage); each
        reply refines it. Only an estimate is scaled, and only within ``RATIO_BOUNDS``."""
        if self._encoding is not None:
            return
        known = sum(self._known.get(m["content"], 0) for m in messages)
        guessed = sum(
            super(ServerCounter, self).count(m["content"])
            for m in messages
            if m["content"] not in self._known
        )
        if guessed < CALIBRATE_FROM:
            return
        overhead = MESSAGE_OVERHEAD * len(messages) + REPLY_PRIMING
        ratio = (prompt_tokens - overhead - known) / guessed
        if not RATIO_BOUNDS[0] <= ratio <= RATIO_BOUNDS[1]:
            log.info("usage of %d tokens ignored: a ratio of %.2f", prompt_tokens, ratio)
            return
        self.ratio = ratio if not self.calibrated else (self.ratio + ratio) / 2
        self.calibrated = True
        log.info("%s: estimates scaled by %.2f", self.model, self.ratio)
