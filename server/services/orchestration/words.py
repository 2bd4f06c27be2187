"""Finding an asset's words in a question. An English word matches whole (`up` is not in `upstream`); a Korean one
anywhere, because Korean attaches particles to the word (`서버를`, `서버의`)."""

import re
from collections.abc import Iterable
from functools import lru_cache

_TOKEN = re.compile(r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?")


@lru_cache(maxsize=4096)
def _pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9_]){re.escape(word)}(?![a-z0-9_])")


def normalize(question: str) -> str:
    return " ".join(question.lower().split())


def contains(text: str, word: str) -> bool:
    """Whether normalized `text` holds `word` (any case)."""
    word = normalize(word)
    if not word:
        return False
    if not word.isascii():
        return word in text
    return _pattern(word).search(text) is not None


def found(text: str, words: Iterable[str]) -> list[str]:
    """The words of `words` that `text` holds, in their order."""
    return [word for word in words if contains(text, word)]


def tokens(text: str) -> list[str]:
    """The ASCII tokens of normalized `text` that could be a CI's name (`srv-erp-01`, `mt5_bridge`)."""
    return _TOKEN.findall(text)
