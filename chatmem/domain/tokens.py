"""Token counting with the model's tiktoken encoding, or an honest estimate."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

MESSAGE_OVERHEAD = 4  # role and separators of one chat message, as OpenAI counts them
REPLY_PRIMING = 3  # every request is primed with <|start|>assistant<|message|>


def clean_text(text: str) -> str:
    """Replace lone surrogates (unencodable as UTF-8) with U+FFFD; keep everything else."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class TokenCounter:
    """Counts tokens for one model; ``estimated`` is True when no tokenizer could be loaded."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._encoding = _load_encoding(model)
        self.estimated = self._encoding is None

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self._encoding is None:
            return estimate(text)
        return len(self._encoding.encode(clean_text(text), disallowed_special=()))

    def count_message(self, content: str) -> int:
        """Tokens one chat message adds to a request."""
        return self.count(content) + MESSAGE_OVERHEAD


def estimate(text: str) -> int:
    """About four characters a token for English; CJK and emoji count closer to one each."""
    wide = sum(1 for ch in text if ord(ch) > 0x2E7F)
    return (len(text) - wide + 3) // 4 + wide


def _load_encoding(model: str):  # -> tiktoken.Encoding | None
    try:
        import tiktoken

        try:
            name = tiktoken.encoding_name_for_model(model)
        except KeyError:
            return None  # not an OpenAI model: its tokenizer is unknown
        return tiktoken.get_encoding(name)
    except Exception as exc:  # offline with no cache, or a broken cache file
        log.warning("tiktoken unavailable for %s, estimating: %s", model, exc)
        return None
