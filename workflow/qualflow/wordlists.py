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
import math
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
    langs = set(wordfreq.available_languages())
    # Japanese and Korean are tokenised with MeCab, Chinese with jieba: optional packages wordfreq
    # imports on first use. Without them such a language has no usable list ("unknown", as above).
    import importlib.util
    for lang in sorted(langs):
        module = {"mecab": "MeCab", "jieba": "jieba"}.get(wordfreq.get_language_info(lang)["tokenizer"])
        if module and importlib.util.find_spec(module) is None:
            langs.discard(lang)
    return frozenset(langs)


def has_list(lang: str) -> bool:
    return lang in available()


@functools.lru_cache(maxsize=65536)
def zipf(word: str, lang: str) -> float:
    """The word's Zipf frequency in ``lang`` (0 when unknown or the language has no list)."""
    if not has_list(lang):
        return 0.0
    import wordfreq
    return wordfreq.zipf_frequency(unicodedata.normalize("NFC", word), lang)


# wordfreq's lists are buckets of 1 centibel: bucket i holds the words of frequency 10**(-i / 100), so
# the words at Zipf 3 (a frequency of 1e-6) or more are the first 601 buckets.
_ORDINARY_BUCKETS = round((9 - ORDINARY_ZIPF) * 100) + 1


@functools.cache
def _ordinary_freqs(lang: str) -> dict[str, float]:
    """The tokens of ``lang``'s list at Zipf 3 or more, with wordfreq's frequencies.

    Why not ``wordfreq.get_frequency_dict``: it reads and builds a dict of the whole list
    (320,000-630,000 words, 0.2 s a language in every leak scan that meets a near-name); the ordinary
    words are the first buckets, 30,000-60,000 words, so the file (gzipped msgpack, wordfreq's
    ``read_cBpack`` format) is read only that far. A word with a token not among them is not ordinary.
    """
    import gzip

    import msgpack
    import wordfreq

    freqs: dict[str, float] = {}
    with gzip.open(wordfreq.available_languages()[lang], "rb") as fh:
        unpacker = msgpack.Unpacker(fh, raw=False, read_size=1 << 16)
        n = unpacker.read_array_header()
        header = unpacker.unpack()
        if not isinstance(header, dict) or header.get("format") != "cB" or header.get("version") != 1:
            raise ValueError(f"wordfreq list for {lang}: unexpected header {header!r}")
        for i in range(min(n - 1, _ORDINARY_BUCKETS)):
            freq = wordfreq.cB_to_freq(-i)
            for w in unpacker.unpack():
                freqs[w] = freq
    return freqs


@functools.lru_cache(maxsize=65536)
def _is_ordinary_in(word: str, lang: str) -> bool:
    """``zipf(word, lang) >= ORDINARY_ZIPF``, computed as wordfreq does (``_word_frequency``: the
    tokens' frequencies combined as 1/f = 1/f1 + 1/f2 + ..., digits smashed, three significant
    digits) over the ordinary tokens only. Exact: a token below Zipf 3, or not listed, makes the
    combined frequency lower still, so the answer is False either way."""
    import wordfreq
    from wordfreq import tokens as wf_tokens
    toks = wf_tokens.lossy_tokenize(unicodedata.normalize("NFC", word), lang)
    if not toks:
        return False
    freqs = _ordinary_freqs(lang)
    inverse = 0.0
    for token in toks:
        smashed = wordfreq.smash_numbers(token)
        if smashed not in freqs:
            return False
        freq = freqs[smashed]
        if smashed != token:
            freq *= wordfreq.digit_freq(token)
        inverse += 1.0 / freq
    freq = 1.0 / inverse
    if wordfreq.get_language_info(lang)["tokenizer"] == "jieba":
        freq *= wordfreq.INFERRED_SPACE_FACTOR ** -(len(toks) - 1)
    if freq <= 0.0:
        return False
    rounded = round(freq, math.floor(-math.log(freq, 10)) + 3)
    return math.log(rounded, 10) + 9 >= ORDINARY_ZIPF


def is_ordinary(word: str, langs: list[str] | set[str] | tuple[str, ...]) -> bool:
    """True when ``word`` is a frequent word (Zipf >= ORDINARY_ZIPF) of any of ``langs`` that has a list."""
    return any(_is_ordinary_in(word, lang) for lang in sorted(langs) if has_list(lang))
