"""The translation review page in a real browser: headless Chromium loads it, runs its filter, screenshots it."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import chromium

from qualflow.translation import FLAG_COLUMNS
from qualflow.translation_review import ReviewPair, review_html

MARKERS = {"en": {"inaudible": ["[inaudible]"]}, "de": {"inaudible": ["[unverständlich]"]},
           "he": {"inaudible": ["[לא ברור]"]}}


def _frame(turns):
    return pd.DataFrame([{"turn": i, "speaker": s, "text": t, "kind": "speech" if s else "marker"}
                         for i, (s, t) in enumerate(turns, start=1)])


def _flag(transcript, pair, turn, flag, severity, status="open", decision="", note=""):
    return {"transcript": transcript, "lang_pair": pair, "turn": turn, "turn_en": turn, "speaker": "P01",
            "flag": flag, "severity": severity, "detail": f"{flag} at {turn}", "status": status,
            "decision": decision, "note": note}


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    de = _frame([("F01", "Wie geht es Ihnen heute?"), ("P01", "Gut, danke. Wir hatten 12 Kollegen."),
                 ("P02", "Ich arbeite mit [TP01]."), ("F01", "Danke schön.")])
    en = _frame([("F01", "How are you today?"), ("P01", "Fine, thanks. We had 15 colleagues."),
                 ("P02", "I work with the doctor."), ("F01", "Thank you.")])
    he = _frame([("F01", "מה שלומכם היום?"), ("P01", "טוב, תודה."), ("P02", "אני עובדת כאן.")])
    he_en = _frame([("F01", "How are you today?"), ("P01", "Good, thanks."), ("P02", "I work here.")])
    pairs = [
        ReviewPair("ulm", "FG1", "de", de, en, pd.DataFrame(
            [_flag("FG1", "de-en", 2, "numbers_mismatch", "warning"),
             _flag("FG1", "de-en", 3, "placeholder_mismatch", "error")], columns=FLAG_COLUMNS)),
        ReviewPair("beer_sheva", "FG1", "he", he, he_en, pd.DataFrame(
            [_flag("FG1", "he-en", 1, "question_mismatch", "info", "resolved", "accepted", "fine"),
             _flag("FG1", "he-en", 3, "speaker_sequence_mismatch", "error")], columns=FLAG_COLUMNS)),
    ]
    path = tmp_path_factory.mktemp("review") / "review.html"
    path.write_text(review_html(pairs, MARKERS, site_order=["ulm", "beer_sheva"],
                                site_names={"ulm": "Ulm", "beer_sheva": "Be'er Sheva"}), encoding="utf-8")
    return path


def _run(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp / 'profile'}", *extra, url]
    env = dict(os.environ, HOME=str(tmp))
    return subprocess.run(args, capture_output=True, text=True, timeout=180, env=env, cwd=tmp)


def _rows(dom: str) -> list[str]:
    return re.findall(r"<tr\b[^>]*\bclass=\"turn[^\"]*\"[^>]*>", dom)


def test_browser_shows_every_flagged_row(page, tmp_path):
    done = _run(page.as_uri(), tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    rows = _rows(dom)
    assert len(rows) == 7                                        # 4 German + 3 Hebrew turn pairs
    flagged = [r for r in rows if re.search(r'class="turn flagged', r)]
    assert len(flagged) == 4                                     # one per flag in the input
    assert not any("hidden" in r for r in rows)                  # default view shows every turn
    assert 'id="shown">7<' in dom                                # the filter script ran
    assert dom.count('dir="rtl"') == 3 and 'lang="he"' in dom


def test_browser_filter_from_url_hash_hides_non_matching_rows(page, tmp_path):
    done = _run(page.as_uri() + "#severity=error", tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _rows(done.stdout)
    visible = [r for r in rows if "hidden" not in r]
    assert len(visible) == 2 and all('data-severity="error"' in r for r in visible)
    assert sum("hidden" in r for r in rows) == 5
    done = _run(page.as_uri() + "#site=beer_sheva&severity=flagged", tmp_path, "--dump-dom")
    visible = [r for r in _rows(done.stdout) if "hidden" not in r]
    assert len(visible) == 2 and all('data-site="beer_sheva"' in r for r in visible)
    assert re.search(r'<section class="pair" data-site="ulm"[^>]*hidden', done.stdout)


def test_browser_screenshot(page, tmp_path):
    shot = tmp_path / "review.png"
    done = _run(page.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1400,1000")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_marathi_pair_renders_in_devanagari(tmp_path):
    """A Marathi (Devanagari) transcript on the review page: marked lang="mr", left to right, with a
    Devanagari font in the page's fallback list that this machine's fontconfig has (make browser
    installs one), so Chromium draws the script instead of empty boxes."""
    mr = _frame([("F01", "आज तुम्ही कसे आहात?"), ("P01", "छान, धन्यवाद. आमच्याकडे १२ सहकारी होते."),
                 ("", "[हशा]")])
    en = _frame([("F01", "How are you today?"), ("P01", "Fine, thanks. We had 15 colleagues."),
                 ("", "[laughter]")])
    markers = {"en": {"laughter": ["[laughter]"]}, "mr": {"laughter": ["[हशा]"]}}
    pair = ReviewPair("pune", "FG1", "mr", mr, en, pd.DataFrame(
        [_flag("FG1", "mr-en", 2, "numbers_mismatch", "warning")], columns=FLAG_COLUMNS))
    path = tmp_path / "review.html"
    page_html = review_html([pair], markers, site_order=["pune"], site_names={"pune": "Pune"})
    path.write_text(page_html, encoding="utf-8")
    css_fonts = re.search(r"body\{font-family:([^;]+);", page_html).group(1)
    families = subprocess.run(["fc-list", ":lang=mr", "family"], capture_output=True, text=True).stdout
    installed = {f.strip() for line in families.splitlines() for f in line.split(",") if f.strip()}
    assert installed, "no Devanagari font: run `make browser` (installs fonts-lohit-deva)"
    assert any(f'"{f}"' in css_fonts or f in css_fonts.split(",") for f in installed), (css_fonts, installed)
    done = _run(path.as_uri(), tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'lang="mr"' in done.stdout and "आमच्याकडे १२ सहकारी" in done.stdout
    assert 'dir="rtl"' not in done.stdout
    shot = tmp_path / "mr.png"
    done = _run(path.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1200,700")
    assert done.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_review_index_links_every_site_page_and_each_shows_its_flags(demo, tmp_path):
    """(issue 14) The demo's review: the index in Chromium links a page per site; each page opens and
    shows every flag of its site; Hebrew runs right to left; an old deep link forwards to the site."""
    res = demo / "results/translation"
    sites = pd.read_csv(demo / "config/sites.tsv", sep="\t", dtype=str, keep_default_na=False)
    translated = sorted({p.parent.name for p in res.glob("*/*.flags.tsv")})
    done = _run((res / "review.html").as_uri(), tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    links = dict(re.findall(r'<a href="([^"]+)" data-site="([^"]+)">', done.stdout))
    assert sorted(links.values()) == translated
    assert all(href == f"review/{site}.html" for href, site in links.items())
    assert 'id="in-report" hidden' in done.stdout                   # a file: page, not the report
    names = dict(zip(sites["site"], sites["name"]))
    for site in translated:
        flags = pd.concat([pd.read_csv(f, sep="\t", dtype=str, keep_default_na=False)
                           for f in sorted((res / site).glob("*.flags.tsv"))])
        dom = _run((res / "review" / f"{site}.html").as_uri(), tmp_path, "--dump-dom").stdout
        assert "<h1>Translation check — " in dom and f" · {names[site]}</h1>" in dom
        assert dom.count('<li><span class="badge') == len(flags)     # every flag of the site, placed
        assert f'id="shown">{len(_rows(dom))}<' in dom                 # the filter script ran
        assert {m for m in re.findall(r'data-site="([^"]+)"', dom)} == {site}
        if site == "beer_sheva":
            assert 'lang="he" dir="rtl"' in dom
    dom = _run((res / "review.html").as_uri() + "#site=beer_sheva&severity=error", tmp_path, "--dump-dom").stdout
    assert " · " + names["beer_sheva"] + "</h1>" in dom              # forwarded to the site's page
