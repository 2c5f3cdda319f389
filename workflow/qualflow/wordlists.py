"""Word-frequency lists (the ``wordfreq`` package, shipped with its data): is this an ordinary word?

Two stages ask: the leak gate, so that a name at the start of a frequent word of the language
(Hebrew משה in משהו "something") is not taken for an inflected name, and the review list, so that a
token the language does not know (an unlisted name in a script without capitals) is offered for
review. wordfreq covers de, en, he, hi, ta, tr, fi and ~35 more, but not mr, sw or lg: for those
the answer is "unknown" and both callers fall back to their other signals (the gate stays strict).
Nothing is downloaded: the lists are part of the installed package.
"""
from __future__ import annotations

import functools
import logging
import unicodedata

log = logging.getLogger("qualflow.wordlists")

# Zipf 3 = once per million words: every ordinary word of a transcript, and few names' inflections.
ORDINARY_ZIPF = 3.0


@functools.cache
def available() -> frozenset[str]:
    """The languages with a list (exact codes only: wordfreq would answer 'mr' from Hindi's list)."""
    try:
        import wordfreq
    except ImportError:   # pragma: no cover - a dependency; without it every language is "unknown"
        log.warning("wordfreq is not installed: no word-frequency lists")
        return frozenset()
    return frozenset(wordfreq.available_languages())


def has_list(lang: str) -> bool:
    return lang in available()


@functools.lru_cache(maxsize=65536)
def zipf(word: str, lang: str) -> float:
    """The word's Zipf frequency in ``lang`` (0 when unknown or the language has no list)."""
    if not has_list(lang):
        return 0.0
    import wordfreq
    return wordfreq.zipf_frequency(unicodedata.normalize("NFC", word), lang)


def is_ordinary(word: str, langs: list[str] | set[str] | tuple[str, ...]) -> bool:
    """True when ``word`` is a frequent word of any of ``langs`` that has a list."""
    return any(zipf(word, lang) >= ORDINARY_ZIPF for lang in sorted(langs) if has_list(lang))
