"""Read site transcripts (.txt with YAML front matter, .docx, .vtt) into one turn table.

Sites deliver transcripts the way their tools make them; every later stage sees the same table:
one row per turn with the raw speaker label, the text, the first source line and the kind
(``speech`` or ``marker``). Reading never modifies the input, and every problem a user can fix is an
:class:`~qualflow.errors.InputError` naming the file and line.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from .errors import InputError, Problem, raise_if
from .tables import guess_encoding, read_text_file, sha256_file

NAME_RE = re.compile(r"^(?P<id>(?:FG|INT)[1-9][0-9]*)\.(?P<lang>[a-z]{2})\.(?P<ext>txt|docx|vtt)$")
KINDS = {"focus_group", "interview"}
# "Speaker label: text" — a label of at most 40 characters and 5 words, followed by ':' and a space or
# the end of the line (so "10:00" inside speech is not a label).
SPEAKER_RE = re.compile(r"^(?P<speaker>[^\s:\[][^:\n]{0,39}?)\s*:(?:[ \t]+(?P<text>.*)|[ \t]*)$")
MARKER_RE = re.compile(r"^\[[^\[\]]+\]$")
TURN_COLUMNS = ["turn", "speaker", "text", "line", "kind", "timestamp"]
INDEX_COLUMNS = ["transcript", "lang", "format", "kind", "date", "wave", "turns", "speech_turns", "source", "sha256"]


@dataclass(frozen=True)
class Turn:
    """One speaker turn (or a marker line such as ``[crosstalk]``)."""

    turn: int
    speaker: str
    text: str
    line: int
    kind: str = "speech"
    timestamp: str = ""


@dataclass
class Transcript:
    """A parsed transcript file: its identity, front matter and turns."""

    site: str
    transcript: str            # FG1, INT2, ...
    lang: str
    path: str
    fmt: str                   # txt | docx | vtt
    meta: dict = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    meta_lines: dict = field(default_factory=dict)   # front matter key -> its line, for messages

    @property
    def kind(self) -> str:
        return str(self.meta.get("kind", ""))

    def frame(self) -> pd.DataFrame:
        """The turn table of DESIGN.md stage 2."""
        return pd.DataFrame([t.__dict__ for t in self.turns], columns=TURN_COLUMNS)


@dataclass(frozen=True)
class SourceFile:
    """A transcript file found under data/raw/<site>/."""

    site: str
    transcript: str
    lang: str
    fmt: str
    path: str


def _speaker_line(line: str) -> tuple[str, str] | None:
    m = SPEAKER_RE.match(line)
    if not m:
        return None
    speaker = m.group("speaker").strip()
    if len(speaker.split()) > 5 or any(c in speaker for c in "?!;\"“”"):
        return None
    return speaker, (m.group("text") or "").strip()


def _front_matter(lines: list[str], path: str, required: bool) -> tuple[dict, int]:
    """Parse a leading ``---`` YAML block; return (meta, index of the first body line)."""
    first = next((i for i, l in enumerate(lines) if l.strip()), None)
    if first is None or lines[first].strip() != "---":
        if required:
            raise InputError(path, (first or 0) + 1, "no YAML front matter: start the file with a line '---', "
                                                     "then 'kind: focus_group' (or interview) and 'date: YYYY-MM-DD', "
                                                     "then '---'")
        return {}, 0
    end = next((i for i in range(first + 1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise InputError(path, first + 1, "front matter is not closed: add a line '---' after its last key")
    try:
        meta = yaml.safe_load("\n".join(lines[first + 1:end])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first + 2 + (mark.line if mark else 0)
        raise InputError(path, line, f"front matter is not valid YAML ({getattr(exc, 'problem', exc)}): "
                                     "write one 'key: value' per line") from None
    if not isinstance(meta, dict):
        raise InputError(path, first + 2, "front matter must be 'key: value' lines (kind, date, ...)")
    return _check_meta(meta, path, first + 2), end + 1


_KEY_RE = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\s*:")


def front_matter_lines(lines: list[str]) -> dict[str, int]:
    """The 1-based line (or block) of each top-level ``key:`` of a leading ``---`` block, for messages
    that point at the key to fix (e.g. ``wave:``); {} when there is no front matter."""
    first = next((i for i, l in enumerate(lines) if l.strip()), None)
    if first is None or lines[first].strip() != "---":
        return {}
    out: dict[str, int] = {}
    for i in range(first + 1, len(lines)):
        if lines[i].strip() == "---":
            break
        m = _KEY_RE.match(lines[i])
        if m:
            out.setdefault(m.group("key"), i + 1)
    return out


def _check_meta(meta: dict, path: str, line: int) -> dict:
    kind = meta.get("kind")
    if kind not in KINDS:
        raise InputError(path, line, f"front matter 'kind' is {kind!r}: use focus_group or interview")
    date = meta.get("date")
    if date is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(date)):
        raise InputError(path, line, f"front matter 'date' is {date!r}: give the date of the session as YYYY-MM-DD")
    meta = dict(meta)
    meta["date"] = str(date)
    return meta


class _TurnBuilder:
    """Collect turns from a stream of (line number, speaker-or-None, text) pieces."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.turns: list[dict] = []

    def speech(self, line: int, speaker: str, text: str, timestamp: str = "") -> None:
        self.turns.append(dict(speaker=speaker, text=text, line=line, kind="speech", timestamp=timestamp))

    def marker(self, line: int, text: str) -> None:
        self.turns.append(dict(speaker="", text=text, line=line, kind="marker", timestamp=""))

    def continue_(self, line: int, text: str, sep: str = "\n") -> None:
        last = next((t for t in reversed(self.turns) if t["kind"] == "speech"), None)
        if last is None or self.turns[-1]["kind"] != "speech":
            raise InputError(self.path, line, "text with no speaker before it: start the turn with "
                                              "'Speaker: ' (a name from the roster)")
        last["text"] = f"{last['text']}{sep}{text}" if last["text"] else text

    def result(self) -> list[Turn]:
        if not any(t["kind"] == "speech" for t in self.turns):
            raise InputError(self.path, None, "has no speaker turns: write one 'Speaker: text' paragraph per turn")
        return [Turn(turn=i, **t) for i, t in enumerate(self.turns, start=1)]


def parse_txt(text: str, path: str) -> tuple[dict, list[Turn]]:
    """Parse a text transcript: YAML front matter, then one ``Speaker: text`` paragraph per turn."""
    if not text.strip():
        raise InputError(path, 1, "the file is empty: a transcript starts with front matter, then "
                                  "'Speaker: text' paragraphs")
    lines = text.split("\n")
    meta, start = _front_matter(lines, path, required=True)
    b = _TurnBuilder(path)
    for i in range(start, len(lines)):
        raw = lines[i].strip()
        if not raw:
            continue
        if MARKER_RE.match(raw):
            b.marker(i + 1, raw)
            continue
        sp = _speaker_line(raw)
        if sp:
            b.speech(i + 1, *sp)
        else:
            b.continue_(i + 1, raw)
    return meta, b.result()


def parse_docx(path: str) -> tuple[dict, list[Turn]]:
    """Parse a Word transcript: paragraphs, heading-styled speaker names, 2-column table rows.

    ``line`` is the block number in the document body (paragraphs and table rows, 1-based), which is
    what a user can count in Word. Runs are joined by python-docx's ``paragraph.text``.
    """
    import docx  # python-docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    if not zipfile.is_zipfile(path):
        raise InputError(path, None, "is not a .docx file (not a zip archive; maybe an old .doc or a "
                                     "renamed text file): save it from Word as 'Word Document (.docx)'")
    try:
        document = docx.Document(path)
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise InputError(path, None, f"is not a readable .docx file ({exc}): save it again from Word "
                                     "as 'Word Document (.docx)'") from None
    from docx.enum.style import WD_STYLE_TYPE

    # A paragraph's style name by its style id, looked up once per id: python-docx's
    # ``paragraph.style`` searches every style of the document per paragraph (most of a .docx's parse time).
    style_names: dict[str | None, str] = {}

    def style_name(style_id: str | None) -> str:
        if style_id not in style_names:
            style = document.part.get_style(style_id, WD_STYLE_TYPE.PARAGRAPH)
            style_names[style_id] = style.name if style is not None else ""
        return style_names[style_id]

    blocks: list[tuple[int, str, str]] = []   # (number, style, text)
    n = 0
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            n += 1
            p = Paragraph(child, document)
            blocks.append((n, style_name(child.style), p.text))
        elif tag == "tbl":
            for row in Table(child, document).rows:
                n += 1
                cells = [c.text.strip() for c in row.cells]
                blocks.append((n, "__table__", "\t".join(cells)))
    lines = [t for _, _, t in blocks]
    meta, start = _front_matter(lines, path, required=False)
    b = _TurnBuilder(path)
    pending_speaker: tuple[int, str] | None = None
    for number, style, text in blocks[start:]:
        raw = text.strip()
        if not raw:
            continue
        if style == "__table__":
            cells = [c for c in raw.split("\t")]
            if len(cells) >= 2 and cells[0]:
                b.speech(number, cells[0].rstrip(":").strip(), " ".join(c for c in cells[1:] if c).strip())
            else:
                raise InputError(path, number, "a table row must have the speaker in the first cell and the "
                                               "text in the second")
            pending_speaker = None
            continue
        if style.lower().startswith("heading"):
            b.speech(number, raw.rstrip(":").strip(), "")
            pending_speaker = (number, raw)
            continue
        if MARKER_RE.match(raw):
            b.marker(number, raw)
            pending_speaker = None
            continue
        sp = _speaker_line(raw) if pending_speaker is None else None
        if sp:
            b.speech(number, *sp)
        else:
            b.continue_(number, raw)
            pending_speaker = None
    if not meta:
        meta = {"kind": "", "date": ""}
    return meta, b.result()


_VTT_TIME = re.compile(r"^(?P<start>(?:\d{2,}:)?\d{2}:\d{2}\.\d{3})\s+-->\s+(?P<end>(?:\d{2,}:)?\d{2}:\d{2}\.\d{3})")
_VOICE = re.compile(r"<v(?:\.[^\s>]+)*\s+(?P<name>[^>]+)>")
_TAG = re.compile(r"</?[^>]+>")


def parse_vtt(text: str, path: str) -> tuple[dict, list[Turn]]:
    """Parse WebVTT from automatic transcription: ``<v Speaker>`` voices; consecutive cues of one voice
    form a turn whose timestamp is its first cue's start. Metadata may sit in a ``NOTE`` block as
    ``key: value`` lines. The structure is checked with webvtt-py first.
    """
    import webvtt
    from webvtt.errors import MalformedFileError

    try:
        webvtt.from_string(text)
    except (MalformedFileError, ValueError) as exc:
        raise InputError(path, 1, f"is not valid WebVTT ({exc}): it must start with 'WEBVTT' and contain "
                                  "'00:00:01.000 --> 00:00:04.000' cues") from None
    lines = text.split("\n")
    meta: dict = {}
    b = _TurnBuilder(path)
    i = 0
    current = None
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("NOTE"):
            block = []
            i += 1
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            try:
                parsed = yaml.safe_load("\n".join(block))
            except yaml.YAMLError:
                parsed = None
            if isinstance(parsed, dict) and "kind" in parsed:
                meta = _check_meta(parsed, path, i)
            continue
        m = _VTT_TIME.match(line)
        if not m:
            i += 1
            continue
        cue_line = i + 1
        i += 1
        payload = []
        while i < len(lines) and lines[i].strip():
            payload.append(lines[i].strip())
            i += 1
        body = " ".join(payload)
        v = _VOICE.search(body)
        speaker = v.group("name").strip() if v else None
        content = " ".join(_TAG.sub("", body).split())
        if speaker is None and current is None:
            raise InputError(path, cue_line, "cue without a speaker: mark the voice as '<v Name>text'")
        if MARKER_RE.match(content):
            b.marker(cue_line, content)
            current = speaker or current
            continue
        if speaker is None or speaker == current and b.turns and b.turns[-1]["kind"] == "speech":
            b.continue_(cue_line, content, sep=" ")
        else:
            b.speech(cue_line, speaker, content, timestamp=m.group("start"))
        current = speaker or current
    if not meta:
        meta = {"kind": "", "date": ""}
    return meta, b.result()


def parse_name(path: str | Path) -> tuple[str, str, str]:
    """Split ``FG2.lg.txt`` into (transcript, language, format), or say how to name the file."""
    name = Path(path).name
    m = NAME_RE.match(name)
    if not m:
        raise InputError(path, None, "is not named <transcript>.<lang>.<txt|docx|vtt> (e.g. FG2.lg.txt, "
                                     "INT1.en.vtt): rename it")
    return m.group("id"), m.group("lang"), m.group("ext")


def read_transcript(path: str | Path, site: str) -> Transcript:
    """Read one transcript file of any supported format."""
    path = str(path)
    transcript, lang, fmt = parse_name(path)
    meta_lines: dict[str, int] = {}
    if fmt == "docx":
        meta, turns = parse_docx(path)
    else:
        text = read_text_file(path)
        meta, turns = parse_txt(text, path) if fmt == "txt" else parse_vtt(text, path)
        if fmt == "txt":
            meta_lines = front_matter_lines(text.split("\n"))
    if not meta.get("kind"):
        meta["kind"] = "interview" if transcript.startswith("INT") else "focus_group"
    return Transcript(site, transcript, lang, path, fmt, meta, turns, meta_lines)


def discover(raw_dir: str | Path, sites: list[str], languages: dict[str, list[str]],
             english: str = "en") -> list[SourceFile]:
    """List every transcript file under ``raw_dir/<site>/`` and check the set is complete.

    Problems: a site folder not in the sites table, a badly named file, a language the site does not
    declare, two files for one transcript and language, a local transcript without its English file.
    """
    raw = Path(raw_dir)
    problems: list[Problem] = []
    files: list[SourceFile] = []
    if not raw.is_dir():
        raise InputError(raw, None, "the raw transcript folder does not exist: create data/raw/<site>/")
    for d in sorted(p for p in raw.iterdir() if p.is_dir()):
        if d.name not in sites:
            problems.append(Problem(str(d), None, f"transcripts for site {d.name!r}, which is not in the sites "
                                                  "table: add a row to config/sites.tsv or move the folder"))
    for site in sites:
        seen: dict[tuple[str, str], str] = {}
        for f in sorted((raw / site).glob("*")) if (raw / site).is_dir() else []:
            if f.name.startswith(".") or f.is_dir() or f.name.lower() in {"readme.md", "readme.txt"}:
                continue
            try:
                tid, lang, fmt = parse_name(f)
            except InputError as e:
                problems.extend(e.problems)
                continue
            allowed = set(languages.get(site, [])) | {english}
            if lang not in allowed:
                problems.append(Problem(str(f), None, f"language {lang!r} is not declared for {site} "
                                                      f"(languages: {','.join(sorted(allowed))}): fix the "
                                                      "file name or the sites table"))
                continue
            if (tid, lang) in seen:
                problems.append(Problem(str(f), None, f"{tid} in {lang} exists twice (also {seen[(tid, lang)]}): "
                                                      "keep one file per transcript and language"))
                continue
            seen[(tid, lang)] = str(f)
            files.append(SourceFile(site, tid, lang, fmt, str(f)))
        ids = sorted({t for t, _ in seen})
        for tid in ids:
            if (tid, english) not in seen:
                local = next(p for (t, _), p in seen.items() if t == tid)
                problems.append(Problem(local, None, f"has no English translation: add "
                                                     f"{raw / site}/{tid}.{english}.txt (or .docx/.vtt)"))
    raise_if(problems)
    return files


def index_row(t: Transcript) -> dict:
    """One line of a site's transcripts.tsv: what was parsed, from which exact input."""
    return {"transcript": t.transcript, "lang": t.lang, "format": t.fmt, "kind": t.kind,
            "date": str(t.meta.get("date", "")), "wave": str(t.meta.get("wave", "")),
            "turns": len(t.turns), "speech_turns": sum(x.kind == "speech" for x in t.turns),
            "source": t.path, "sha256": sha256_file(t.path)}
