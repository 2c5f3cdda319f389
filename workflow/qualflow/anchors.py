"""Where a coding lands when the text it was made on is not byte for byte the current transcript.

Two cases reach the codes stage, and neither may shift a coding onto the wrong words:

* **the same text, written differently**: a tool saved the source with CRLF line endings (QualCoder's
  "line endings for MAXQDA" export, NVivo on Windows) or with a byte-order mark. The words are the
  transcript's; only the positions need mapping. Tools disagree on how they count a CRLF: the
  REFI-QDA rule (code points of the stored file) counts it as two characters, ATLAS.ti and QualCoder's
  MAXQDA export count it as one. :func:`line_ending_positions` decides per source from the codings
  themselves (the reading that puts their ends on word boundaries), so no tool name is trusted.
* **a corrected transcript**: a site fixed a word, or added or removed a turn, after the coder coded.
  :func:`align` lines the old text up with the new one (lines first, then characters inside changed
  lines) and :func:`reanchor` moves every span whose own text is unchanged; a span whose text changed
  is returned for a person to confirm, never moved by guesswork.

Offsets are code points from 0, end exclusive, as everywhere in the project. Cost is linear in the
text for the line-ending map and near-linear for the alignment of mostly equal texts (a changed
line is diffed on its own), and the alignment runs only for sources that differ.
"""
from __future__ import annotations

import difflib
import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["normalise_newlines", "newline_map", "line_ending_positions", "Segment", "align",
           "reanchor", "Anchor"]

_CRLF = re.compile(r"\r\n?")
#: Shortest unchanged stretch trusted inside a block of changed lines whose count changed.
MIN_BLOCK_MATCH = 24


def normalise_newlines(text: str) -> str:
    """The text with a leading BOM dropped and CRLF / lone CR read as LF."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return _CRLF.sub("\n", text)


def newline_map(raw: str) -> tuple[str, np.ndarray]:
    """``(normalised, pos)``: for every offset ``k`` in ``raw`` (0..len), ``pos[k]`` is the offset of
    the same place in :func:`normalise_newlines` ``(raw)``. The ``\\r`` of a CRLF and a leading BOM
    are the characters dropped; an offset between ``\\r`` and ``\\n`` maps to the line break."""
    dropped = np.zeros(len(raw), dtype=np.int64)
    if raw.startswith("\ufeff"):
        dropped[0] = 1
    for m in re.finditer("\r\n", raw):
        dropped[m.start()] = 1
    pos = np.arange(len(raw) + 1, dtype=np.int64)
    pos[1:] -= np.cumsum(dropped)
    return normalise_newlines(raw), pos


def _on_boundary(text: str, k: int) -> bool:
    """True where a span may sensibly start or end: not between two letters or digits."""
    if k <= 0 or k >= len(text):
        return True
    return not (text[k - 1].isalnum() and text[k].isalnum())


def _clean(text: str, s: int, e: int) -> int:
    """How well a span sits on the words: ends on word boundaries, no blank at either edge."""
    ok_start = _on_boundary(text, s) and (s >= len(text) or not text[s].isspace())
    ok_end = _on_boundary(text, e) and (e <= 0 or not text[e - 1].isspace())
    return int(ok_start) + int(ok_end)


def line_ending_positions(raw: str, spans: Sequence[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """How a tool counted positions in ``raw`` (a CRLF / BOM copy of the transcript), and the spans
    in the normalised text.

    Returns ``(reading, spans)``, reading ``"code points"`` (the REFI-QDA rule: CRLF is two
    characters) or ``"one per line break"`` (ATLAS.ti, QualCoder's MAXQDA export). The reading
    whose spans sit on whole words more often wins; a reading that puts an end past the
    text is impossible; a tie keeps the spec's.
    """
    if "\r" not in raw:
        # a BOM only: offsets exclude it (readers strip it before applying them, ORIGIN.md)
        return "code points", [(s, e) for s, e in spans]
    norm, pos = newline_map(raw)
    n_raw, n_norm = len(raw), len(norm)
    as_code_points = [(int(pos[s]), int(pos[e])) if 0 <= s <= e <= n_raw else None for s, e in spans]
    as_lines = [(s, e) if 0 <= s <= e <= n_norm else None for s, e in spans]

    def score(cands: list) -> int:
        if any(c is None for c in cands):
            return -1
        return sum(_clean(norm, s, e) for s, e in cands)

    if score(as_lines) > score(as_code_points):
        return "one per line break", list(as_lines)  # type: ignore[arg-type]
    return "code points", [c if c is not None else (min(s, n_norm), min(e, n_norm))
                           for c, (s, e) in zip(as_code_points, spans)]


@dataclass(frozen=True)
class Segment:
    """``old[a:a+n] == new[b:b+n]``: a stretch the correction left alone."""

    a: int
    b: int
    n: int


def _line_starts(lines: Sequence[str]) -> list[int]:
    out, k = [], 0
    for line in lines:
        out.append(k)
        k += len(line)
    out.append(k)
    return out


def align(old: str, new: str) -> list[Segment]:
    """The unchanged stretches of ``old`` in ``new``, in order, adjacent ones merged.

    Lines are matched first (a turn is a line or a few, and whole-turn insertions and deletions
    are line operations); inside a block of changed lines, lines are paired one to one when the
    counts agree, else the block is diffed as characters. Characters are never matched across
    unrelated lines, so a deleted turn's words cannot be "found" in another turn.
    """
    a_lines, b_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    a_at, b_at = _line_starts(a_lines), _line_starts(b_lines)
    segs: list[Segment] = []

    def chars(a0: int, a_txt: str, b0: int, b_txt: str, min_size: int = 1) -> None:
        sm = difflib.SequenceMatcher(None, a_txt, b_txt, autojunk=False)
        for blk in sm.get_matching_blocks():
            if blk.size >= min_size:
                segs.append(Segment(a0 + blk.a, b0 + blk.b, blk.size))

    sm = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            segs.append(Segment(a_at[i1], b_at[j1], a_at[i2] - a_at[i1]))
        elif tag == "replace":
            if i2 - i1 == j2 - j1:
                for k in range(i2 - i1):
                    chars(a_at[i1 + k], a_lines[i1 + k], b_at[j1 + k], b_lines[j1 + k])
            else:
                # lines added or removed among changed ones: only stretches long enough to carry
                # their context count, so a short phrase of a removed turn is not matched elsewhere
                chars(a_at[i1], "".join(a_lines[i1:i2]), b_at[j1], "".join(b_lines[j1:j2]),
                      MIN_BLOCK_MATCH)
    merged: list[Segment] = []
    for s in sorted(segs, key=lambda s: s.a):
        if s.n == 0:
            continue
        if merged and merged[-1].a + merged[-1].n == s.a and merged[-1].b + merged[-1].n == s.b:
            last = merged.pop()
            s = Segment(last.a, last.b, last.n + s.n)
        merged.append(s)
    return merged


@dataclass(frozen=True)
class Anchor:
    """Where one old span goes: ``moved`` (its text is unchanged; ``start``/``end`` in the new text)
    or ``review`` (its own text changed; ``start``/``end`` the closest new span, for a person)."""

    status: str
    start: int
    end: int


def _project(segs: list[Segment], keys: list[int], k: int, new_len: int) -> int:
    """An old offset's nearest place in the new text (for review proposals only)."""
    i = bisect_right(keys, k) - 1
    if i < 0:
        return 0
    s = segs[i]
    return min(s.b + min(k - s.a, s.n), new_len)


def reanchor(old: str, new: str, spans: Sequence[tuple[int, int]],
             segments: list[Segment] | None = None) -> list[Anchor]:
    """Each span of ``old`` in ``new``: moved when it lies inside one unchanged stretch (so its text
    is identical and its surroundings line up), else flagged for review with a proposal."""
    segs = align(old, new) if segments is None else segments
    keys = [s.a for s in segs]
    out: list[Anchor] = []
    for start, end in spans:
        i = bisect_right(keys, start) - 1
        if i >= 0:
            s = segs[i]
            # an empty span at a stretch's end still belongs to it; a non-empty one must fit inside
            if s.a <= start and end <= s.a + s.n and (end > start or start < s.a + s.n or s.n):
                ns, ne = s.b + (start - s.a), s.b + (end - s.a)
                if new[ns:ne] == old[start:end]:
                    out.append(Anchor("moved", ns, ne))
                    continue
        ps, pe = _project(segs, keys, start, len(new)), _project(segs, keys, end, len(new))
        out.append(Anchor("review", ps, max(ps, pe)))
    return out
