"""A synthetic study of any size, shaped like the demo, for the scale benchmark and its tests.

    python benchmarks/synthetic_study.py OUT --sites 20 --transcripts 50 --turns 60 --coders 3

writes OUT/config/{config.yaml,sites.tsv,codebook.yaml} and OUT/data/{raw,restricted,codings,
translation_resolutions.tsv}: one focus group = a local-language and an English .txt file, every
speaker in the roster, ~2 % of the words roster names or site identifiers placed identically (same
order, same turns) in the local and the English text, so pseudonymisation gives both files the same
placeholders; each transcript coded by two of the coders with labels from the codebook's synonyms.
The text is runs of words taken from the demo's own transcripts (German, Hebrew, Kiswahili, Luganda
and English, minus every word of a demo name), so language detection and length statistics behave
as on real text. Seeded: the same arguments give byte-identical files. Everything is invented.
"""
from __future__ import annotations

import argparse
import csv
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LOCAL_LANGS = [("de", "ulm", "Germany", "high"), ("lg", "kampala", "Uganda", "low"),
               ("he", "beer_sheva", "Israel", "high"), ("sw", "dar_es_salaam", "Tanzania", "low")]
ROLES = ["psw", "mh_worker", "mh_manager", "policy_maker"]
CONS, VOWS = "bdfgklmnprstvz", "aeiou"


def _demo_config() -> dict:
    return yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))


def _demo_words() -> set[str]:
    """Every word of every demo roster and identifier form: never copied capitalised into the text."""
    words: set[str] = set()
    demo = _demo_config()
    for key, cols in (("roster", ("name", "aliases")), ("identifiers", ("term", "aliases"))):
        with open(ROOT / demo[key], encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                for col in cols:
                    words |= {w.casefold() for w in re.findall(r"\w+", row[col] or "")}
    return words


def _pools() -> dict[str, list[str]]:
    """Words of the demo's .txt transcripts per language, in reading order, names removed."""
    banned = _demo_words()
    pools: dict[str, list[str]] = {}
    for f in sorted((ROOT / _demo_config()["raw_dir"]).glob("*/*.txt")):
        lang = f.name.split(".")[1]
        body = f.read_text(encoding="utf-8").split("---\n", 2)[-1]
        for line in body.splitlines():
            text = line.split(":", 1)[1] if re.match(r"^[^:\[]{1,40}:", line) else line
            for w in text.split():
                core = re.sub(r"\W", "", w)
                if not core or "[" in w or "]" in w or any(c.isdigit() for c in w):
                    continue
                if any(p[0].isupper() and len(p) > 1 and p.casefold() in banned
                       for p in re.findall(r"\w+", w)):
                    continue    # a capitalised word of a demo name (lower-case "peer" is kept)
                pools.setdefault(lang, []).append(w)
    return pools


class Names:
    """Invented names (syllables), unique across the study and never a word of the text pools."""

    def __init__(self, rng: random.Random, vocabulary: set[str]):
        self.rng, self.used = rng, set(vocabulary)

    def word(self, syllables: int = 3) -> str:
        while True:
            w = "".join(self.rng.choice(CONS) + self.rng.choice(VOWS) for _ in range(syllables))
            w = w.capitalize() + self.rng.choice(["", "n", "r", "s"])
            if w.casefold() not in self.used:
                self.used.add(w.casefold())
                return w


@dataclass
class Speaker:
    participant: str
    first: str
    last: str

    @property
    def label(self) -> str:
        return f"{self.first} {self.last[0]}."


def _run(rng: random.Random, pool: list[str], n: int) -> list[str]:
    start = rng.randrange(0, len(pool) - n) if len(pool) > n else 0
    return pool[start:start + n]


def _place(rng: random.Random, en: list[str], local: list[str], terms: list[str]) -> tuple[str, str]:
    """Insert the same identifying terms, in the same order, at proportional places of both texts."""
    n_en, n_local = len(en), len(local)
    en, local = list(en), list(local)
    slots = sorted(rng.sample(range(n_en + 1), len(terms)))
    for slot, term in reversed(list(zip(slots, terms))):   # from the end: earlier slots stay valid
        en.insert(slot, term)
        local.insert(round(slot * n_local / max(1, n_en)), term)
    return " ".join(en), " ".join(local)


def generate(out: str | Path, sites: int = 4, transcripts: int = 3, turns: int = 60, coders: int = 3,
             words: int = 150, participants: int = 8, seed: int = 20181017,
             identifying: float = 0.02) -> Path:
    """Write a synthetic study to ``out`` (replacing config/ and data/ there); return ``out``."""
    out = Path(out)
    rng = random.Random(seed)
    pools = _pools()
    names = Names(rng, {w.casefold() for p in pools.values() for w in p} | _demo_words())
    codebook = yaml.safe_load((ROOT / "config/codebook.yaml").read_text(encoding="utf-8"))
    labels = [[c["label"], *c.get("synonyms", [])] for c in codebook["codes"]]
    base_config = yaml.safe_load((ROOT / "config/config.yaml").read_text(encoding="utf-8"))
    markers = base_config["markers"]
    for part in ("config", "data"):
        shutil.rmtree(out / part, ignore_errors=True)
    raw, restricted, codings = out / "data/raw", out / "data/restricted", out / "data/codings"
    for d in (out / "config", raw, restricted, codings):
        d.mkdir(parents=True, exist_ok=True)
    coder_ids = [f"coder_{chr(ord('a') + i)}" for i in range(coders)]

    site_rows = ["site\tname\tcountry\tincome_group\tsetting\tcare_level\tlanguages\tpsw_experience"]
    roster = ["site\ttranscript\tparticipant\tname\taliases\trole\tgender\tlabel\tcase_sensitive"]
    idents = ["site\tterm\taliases\tcategory\tcase_sensitive"]
    fg_ids = [f"FG{i + 1}" for i in range(transcripts)]
    for s in range(sites):
        lang, _, country, income = LOCAL_LANGS[s % len(LOCAL_LANGS)]
        site = f"site{s + 1:02d}"
        site_rows.append(f"{site}\tSite {s + 1:02d}\t{country}\t{income}\t{income}-income\t"
                         f"{['primary', 'secondary', 'tertiary'][s % 3]}\t{lang}\t"
                         f"{['none', 'some', 'established'][s % 3]}")
        facilitator = Speaker("F1", names.word(), names.word())
        roster.append(f"{site}\t{'|'.join(fg_ids)}\tF1\t{facilitator.first} {facilitator.last}\t"
                      f"{facilitator.label}|{facilitator.first}\tfacilitator\tfemale\t\t")
        hospital, place, person = names.word(), names.word(), names.word()
        idents += [f"{site}\t{hospital} Hospital\t{hospital}\thospital\t",
                   f"{site}\t{place}\t\tplace\t",
                   f"{site}\tDr. {person}\t{person}\tperson\t"]
        site_terms = [f"{hospital} Hospital", place, f"Dr. {person}"]
        number = 0
        for t, fg in enumerate(fg_ids):
            people = []
            for _ in range(participants):
                number += 1
                p = Speaker(str(number), names.word(), names.word())
                people.append(p)
                roster.append(f"{site}\t{fg}\t{p.participant}\t{p.first} {p.last}\t{p.label}|{p.first}\t"
                              f"{rng.choice(ROLES)}\t{rng.choice(['female', 'male'])}\t\t")
            terms = site_terms + [p.first for p in people] + [facilitator.first]
            en_lines, local_lines, speakers = [], [], []
            for k in range(turns):
                if k > 2 and rng.random() < 1 / 30:
                    name = rng.choice(sorted(markers["en"]))
                    en_lines.append(markers["en"][name][0])
                    local_lines.append(markers[lang][name][0])
                    speakers.append(None)
                    continue
                who = facilitator if k % 4 == 0 else (people[k % participants] if k <= 2 * participants
                                                     else rng.choice(people))
                n = max(4, int(rng.expovariate(1 / words)) + 3)
                en = _run(rng, pools["en"], n)
                local = _run(rng, pools[lang], max(3, round(n * rng.uniform(0.85, 1.15))))
                k_terms = sum(rng.random() < identifying for _ in range(n))
                e, l = _place(rng, en, local, [rng.choice(terms) for _ in range(k_terms)])
                en_lines.append(f"{who.label}: {e}")
                local_lines.append(f"{who.label}: {l}")
                speakers.append(who)
            front = f"---\nkind: focus_group\ndate: 2018-{10 + t % 3:02d}-{1 + t % 28:02d}\n---\n"
            (raw / site).mkdir(parents=True, exist_ok=True)
            (raw / site / f"{fg}.en.txt").write_text(front + "\n\n".join(en_lines) + "\n", encoding="utf-8")
            (raw / site / f"{fg}.{lang}.txt").write_text(front + "\n\n".join(local_lines) + "\n",
                                                         encoding="utf-8")
            pair = (coder_ids[(s * transcripts + t) % coders], coder_ids[(s * transcripts + t + 1) % coders])
            first: dict[int, list[str]] = {}
            for c, coder in enumerate(pair if coders > 1 else pair[:1]):
                rows = ["transcript\tturn\tstart\tend\tcode\tmemo"]
                for turn, who in enumerate(speakers, start=1):
                    if who is None or who.participant.startswith("F"):
                        continue
                    if c == 0 or rng.random() > 0.75:
                        chosen = [rng.randrange(len(labels)) for _ in range(rng.choice([1, 2, 2, 3]))]
                        first.setdefault(turn, chosen)
                    else:
                        chosen = first.get(turn, [])
                    for code in dict.fromkeys(chosen):
                        rows.append(f"{site}.{fg}\t{turn}\t\t\t{rng.choice(labels[code])}\t")
                (codings / coder).mkdir(parents=True, exist_ok=True)
                (codings / coder / f"{site}.{fg}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    (out / "config/sites.tsv").write_text("\n".join(site_rows) + "\n", encoding="utf-8")
    (restricted / "roster.tsv").write_text("\n".join(roster) + "\n", encoding="utf-8")
    (restricted / "identifiers.tsv").write_text("\n".join(idents) + "\n", encoding="utf-8")
    (out / "data/translation_resolutions.tsv").write_text("transcript\tturn\tflag\tdecision\tnote\n",
                                                         encoding="utf-8")
    shutil.copy2(ROOT / "config/codebook.yaml", out / "config/codebook.yaml")
    config_text = (ROOT / "config/config.yaml").read_text(encoding="utf-8")
    config_text = re.sub(r'^study: .*$', f'study: "Synthetic study: {sites} sites x {transcripts} focus '
                         f'groups x {turns} turns, {coders} coders (seed {seed})"', config_text, flags=re.M)
    # this study's own inputs (the demo's config points at the demo's), and no optional demo-only files
    for key, value in (("raw_dir", "data/raw"), ("roster", "data/restricted/roster.tsv"),
                       ("identifiers", "data/restricted/identifiers.tsv"), ("codings_dir", "data/codings"),
                       ("translation_resolutions", "data/translation_resolutions.tsv")):
        config_text = re.sub(rf"^{key}: .*$", f"{key}: {value}", config_text, flags=re.M)
    config_text = re.sub(r"^(gate_decisions|coding_assignments): .*\n", "", config_text, flags=re.M)
    (out / "config/config.yaml").write_text(config_text, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--sites", type=int, default=4)
    ap.add_argument("--transcripts", type=int, default=3, help="focus groups per site")
    ap.add_argument("--turns", type=int, default=60)
    ap.add_argument("--coders", type=int, default=3)
    ap.add_argument("--words", type=int, default=150, help="mean English words per turn")
    ap.add_argument("--participants", type=int, default=8, help="participants per focus group")
    ap.add_argument("--seed", type=int, default=20181017)
    a = ap.parse_args(argv)
    generate(a.out, a.sites, a.transcripts, a.turns, a.coders, a.words, a.participants, a.seed)


if __name__ == "__main__":
    main()
