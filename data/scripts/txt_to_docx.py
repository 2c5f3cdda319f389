"""Convert a text transcript into the Word layout one of the demo sites (Hamburg) delivers.

The demo's Hamburg transcripts were written as text and converted once with this script, so the real
run exercises the .docx reader on what Word users produce: front matter as plain paragraphs, most
speaker names as "Heading 3" paragraphs followed by the turn's text, some turns as ordinary
"Name: text" paragraphs, one turn inside a two-column table, and text split over several runs
(mid-word, with formatting changes), as Word does after editing. Deterministic: the layout choice
depends only on the turn number.

    python data/scripts/txt_to_docx.py data/synthetic/raw/hamburg/FG1.de.txt   # writes FG1.de.docx beside it
"""
from __future__ import annotations

import sys
from pathlib import Path

import docx


def split_runs(paragraph, text: str, turn: int) -> None:
    """Add ``text`` as several runs, splitting inside words, with every third run italic."""
    if turn % 3:
        paragraph.add_run(text)
        return
    step = max(7, len(text) // 4)
    pieces = [text[i:i + step] for i in range(0, len(text), step)]
    for k, piece in enumerate(pieces):
        run = paragraph.add_run(piece)
        run.italic = k % 3 == 2


def convert(src: Path) -> Path:
    lines = src.read_text(encoding="utf-8").split("\n")
    end = lines.index("---", 1)
    document = docx.Document()
    document.core_properties.author = "site researcher"
    for line in lines[: end + 1]:
        document.add_paragraph(line)
    paragraphs, current = [], []
    for line in lines[end + 1:]:
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    table_done = False
    for turn, para in enumerate(paragraphs, start=1):
        first = para[0]
        if first.startswith("["):
            document.add_paragraph(first)
            continue
        speaker, text = first.split(": ", 1) if ": " in first else (first.rstrip(":"), "")
        rest = para[1:]
        if turn >= 20 and not table_done and not rest:
            table = document.add_table(rows=1, cols=2)
            table.cell(0, 0).text = speaker
            table.cell(0, 1).text = text
            table_done = True
        elif turn % 4 == 0:
            p = document.add_paragraph(f"{speaker}: ")
            split_runs(p, text, turn)
            for line in rest:
                split_runs(document.add_paragraph(), line, turn)
        else:
            document.add_heading(speaker, level=3)
            split_runs(document.add_paragraph(), text, turn)
            for line in rest:
                split_runs(document.add_paragraph(), line, turn)
    out = src.with_suffix(".docx")
    document.save(out)
    return out


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(convert(Path(arg)))
