"""Benchmark: the name matcher (qualflow.names) against a longest-first stdlib `re` alternation.

Synthetic transcript text (1 MB and 10 MB of UTF-8) with a 1,000-person roster (full name + two
aliases each, 3,000 forms) in three scripts: ASCII (English-like), Devanagari (Marathi-like) and
Hebrew. Names make up 2% of the words (the demo transcripts: 658 replacements in 44,064 words, 1.5%)
or 0.5%; every shipped affix rule is on (qualflow.affixes), and affixed names are planted: 10% of the
ASCII names carry -s, 40% of the Devanagari names a postposition (some with the oblique ा, some
stacked), 40% of the Hebrew names a proclitic chain. The `re` baseline is one longest-first
alternation of the forms with the same affixes as optional groups, on the same text in the same run.
Reports MB/s for both and the ratio. Target (issues 3 and 11): >= 40 MB/s and >= 20x `re` in every cell.

    .venv/bin/python benchmarks/bench_names.py [--sizes 1 10] [--repeat 3] [--scripts ascii devanagari hebrew]
        [--clock cpu]   # CPU time instead of wall time, on a machine shared with other work
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

from qualflow.affixes import DEFAULT_AFFIXES  # noqa: E402
from qualflow.names import AffixRules, Entry, Matcher  # noqa: E402

SCRIPTS = {
    "ascii": {
        "syllables": ["ka", "to", "na", "mu", "li", "se", "ra", "bi", "go", "we", "ze", "lo", "ha", "di", "po", "ne"],
        "words": ("the peer support worker said that we need more training and supervision because the community "
                  "does not understand mental illness and the budget for transport is not enough").split(),
        "affixed": 0.10, "suffixes": ["s"], "prefixes": [],
    },
    "devanagari": {
        "syllables": ["का", "तो", "ना", "मु", "लि", "से", "र", "बि", "गो", "वे", "झे", "लो", "ह", "दि", "पो", "ने"],
        "words": ("सहकारी आधार कार्यकर्ता म्हणाले की आम्हाला अधिक प्रशिक्षण आणि देखरेख हवी आहे कारण समुदायाला "
                  "मानसिक आजार समजत नाही आणि प्रवासासाठी निधी पुरेसा नाही").split(),
        "affixed": 0.40, "suffixes": ["ला", "ने", "चा", "ची", "चे", "शी", "कडे", "साठी", "मध्ये", "ाला", "च्याकडे",
                                      "ताईंना"],
        "prefixes": [],
    },
    "hebrew": {
        "syllables": ["קה", "טו", "נה", "מו", "לי", "סה", "רה", "בי", "גו", "וה", "זה", "לו", "חה", "די", "פו", "נו"],
        "words": ("עובד התמיכה אמר שאנחנו צריכים יותר הכשרה והדרכה כי הקהילה לא מבינה מחלת נפש והתקציב "
                  "לתחבורה לא מספיק").split(),
        "affixed": 0.40, "suffixes": [], "prefixes": ["ו", "ל", "ב", "ש", "ול", "שב", "וכש"],
    },
}


def make_roster(n: int, rng: random.Random, script: str = "ascii") -> list[Entry]:
    syl = SCRIPTS[script]["syllables"]
    entries, seen = [], set()
    while len(seen) < n:
        first = "".join(rng.choice(syl) for _ in range(rng.randint(2, 3))).capitalize()
        last = "".join(rng.choice(syl) for _ in range(rng.randint(3, 4))).capitalize()
        if (first, last) in seen:
            continue
        seen.add((first, last))
        k = f"roster:x:{len(seen)}"
        for form in (f"{first} {last}", f"{first} {last[0]}.", last):
            entries.append(Entry(form, k, "participant", f"P{len(seen):04d}"))
    return entries


def make_text(mb: float, entries: list[Entry], rng: random.Random, density: float = 0.02,
              script: str = "ascii") -> str:
    spec = SCRIPTS[script]
    forms = [e.form for e in entries if not e.form.endswith(".")]
    words = spec["words"]

    def name() -> str:
        form = rng.choice(forms)
        if rng.random() < spec["affixed"]:
            if spec["suffixes"]:
                form += rng.choice(spec["suffixes"])
            if spec["prefixes"]:
                form = rng.choice(spec["prefixes"]) + form
        return form
    out, size = [], 0
    while size < mb * 1_000_000:
        para = "P01: " + " ".join(name() if rng.random() < density else rng.choice(words)
                                  for _ in range(rng.randint(8, 40))) + ".\n\n"
        out.append(para)
        size += len(para.encode())
    return "".join(out)


def re_baseline(entries: list[Entry], script: str = "ascii") -> re.Pattern:
    """One alternation of every form, longest first, with the script's affixes as optional groups."""
    forms = sorted({e.form for e in entries}, key=len, reverse=True)
    suffixes = sorted({s for r in DEFAULT_AFFIXES.values() for s in r.suffixes + r.links}, key=len, reverse=True)
    prefixes = sorted({s for r in DEFAULT_AFFIXES.values() for s in r.prefixes}, key=len, reverse=True)
    alt = lambda xs: "|".join(re.escape(x) for x in xs)  # noqa: E731
    return re.compile(rf"(?<!\w)(?:{alt(prefixes)}){{0,3}}(?:{alt(forms)})(?:{alt(suffixes)}){{0,4}}(?!\w)",
                      re.IGNORECASE)


CLOCK = time.perf_counter


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = CLOCK()
        result = fn()
        times.append(CLOCK() - t)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 10])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--density", type=float, nargs="+", default=[0.02, 0.005],
                    help="share of words that are names (demo: 0.015)")
    ap.add_argument("--scripts", nargs="+", default=list(SCRIPTS), choices=list(SCRIPTS))
    ap.add_argument("--gate", action="store_true", help="time the leak gate's fail-safe mode too")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: this process's CPU time (steady on a shared, loaded machine; both matchers alike)")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"clock: {args.clock}")
    affixes = AffixRules(DEFAULT_AFFIXES)
    print(f"affix rules on: {', '.join(sorted(DEFAULT_AFFIXES))}")
    print(f"{'script':>10} {'size':>6} {'density':>8} {'matcher MB/s':>13} {'re MB/s':>9} {'ratio':>7} "
          f"{'matches':>8} {'affixed':>8} {'re matches':>10}" + (f" {'gate MB/s':>10}" if args.gate else ""))
    for script in args.scripts:
        rng = random.Random(20181017)
        entries = make_roster(1000, rng, script)
        matcher = Matcher(entries, affixes)
        pattern = re_baseline(entries, script)
        for density in args.density:
            for mb in args.sizes:
                text = make_text(mb, entries, rng, density, script)
                size = len(text.encode()) / 1e6
                t_ours, ours = timed(lambda: matcher.find(text), args.repeat)
                t_re, theirs = timed(lambda: pattern.findall(text), 1 if mb > 2 else args.repeat)
                affixed = sum(m.rule != "exact" for m in ours)
                line = (f"{script:>10} {mb:>5.0f}M {density:>8.3f} {size / t_ours:>13.1f} {size / t_re:>9.2f} "
                        f"{t_re / t_ours:>6.1f}x {len(ours):>8} {affixed:>8} {len(theirs):>10}")
                if args.gate:
                    t_gate, _ = timed(lambda: matcher.find(text, fail_safe=True), args.repeat)
                    line += f" {size / t_gate:>10.1f}"
                print(line, flush=True)


if __name__ == "__main__":
    main()
