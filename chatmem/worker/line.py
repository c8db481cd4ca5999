"""The line to the model server: bounded background requests."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chatmem.context import looping

if TYPE_CHECKING:
    from chatmem.llm.client import LLM

log = logging.getLogger(__name__)


class Unusable(ValueError):
    """A background answer that ran to its limit or loops: discarded, never stored."""


async def ask(llm: LLM, messages: list[dict[str, str]], model: str, max_tokens: int) -> str:
    """One bounded background answer, stripped; ``Unusable`` if it is cut or repeats itself."""
    from chatmem.llm.client import Overrun

    try:
        text = (await llm.complete(messages, model, max_tokens)).strip()
    except Overrun as exc:
        raise Unusable(str(exc)) from None
    if looping(text):
        raise Unusable("the answer repeats itself")
    return text
