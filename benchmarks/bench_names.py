"""Benchmark: the name matcher (qualflow.names) against a longest-first stdlib `re` alternation.

Synthetic transcript text (1 MB and 10 MB) with a 1,000-person roster (full name + two aliases each,
3,000 forms); names make up 2% of the words (the demo transcripts: 658 replacements in 44,064 words, 1.5%)
or 0.5% (a transcript that rarely names anyone). Reports MB/s for both matchers on the same text
in the same run, and the ratio. Target (issue 3): >= 40 MB/s and >= 20x the `re` baseline.

    .venv/bin/python benchmarks/bench_names.py [--sizes 1 10] [--repeat 3]
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from qualflow.names import Entry, Matcher  # noqa: E402

SYLLABLES = ["ka", "to", "na", "mu", "li", "se", "ra", "bi", "go", "we", "ze", "lo", "ha", "di", "po", "ne"]
WORDS = ("the peer support worker said that we need more training and supervision because the "
         "community does not understand mental illness and the budget for transport is not enough").split()


def make_roster(n: int, rng: random.Random) -> list[Entry]:
    entries, seen = [], set()
    while len(seen) < n:
        first = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        last = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 4))).capitalize()
        if (first, last) in seen:
            continue
        seen.add((first, last))
        k = f"roster:x:{len(seen)}"
        for form in (f"{first} {last}", f"{first} {last[0]}.", last):
            entries.append(Entry(form, k, "participant", f"P{len(seen):04d}"))
    return entries


def make_text(mb: float, entries: list[Entry], rng: random.Random, density: float = 0.02) -> str:
    forms = [e.form for e in entries]
    out, size = [], 0
    while size < mb * 1_000_000:
        words = [rng.choice(forms) if rng.random() < density else rng.choice(WORDS) for _ in range(rng.randint(8, 40))]
        para = "P01: " + " ".join(words) + ".\n\n"
        out.append(para)
        size += len(para.encode())
    return "".join(out)


def re_baseline(entries: list[Entry]) -> re.Pattern:
    forms = sorted({e.form for e in entries}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(f) for f in forms) + r")(?!\w)", re.IGNORECASE)


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 10])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--density", type=float, nargs="+", default=[0.02, 0.005],
                    help="share of words that are names (demo: 0.015)")
    args = ap.parse_args()
    rng = random.Random(20181017)
    entries = make_roster(1000, rng)
    t0 = time.perf_counter()
    matcher = Matcher(entries)
    build = time.perf_counter() - t0
    pattern = re_baseline(entries)
    print(f"roster: 1000 people, {len(entries)} forms; matcher built in {build:.3f} s")
    print(f"{'size':>6} {'density':>8} {'matcher MB/s':>13} {'re MB/s':>9} {'ratio':>7} {'matches':>8} "
          f"{'re matches':>10}")
    for density in args.density:
        for mb in args.sizes:
            text = make_text(mb, entries, rng, density)
            size = len(text.encode()) / 1e6
            t_ours, ours = timed(lambda: matcher.find(text), args.repeat)
            t_re, theirs = timed(lambda: pattern.findall(text), 1 if mb > 2 else args.repeat)
            print(f"{mb:>5.0f}M {density:>8.3f} {size / t_ours:>13.1f} {size / t_re:>9.2f} {t_re / t_ours:>6.1f}x "
                  f"{len(ours):>8} {len(theirs):>10}")


if __name__ == "__main__":
    main()
