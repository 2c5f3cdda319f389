"""Reading, validating and writing the study's TSV tables.

Every table a user edits (sites, roster, identifiers, resolutions, codings) is read here so that a
mistake is reported the same way everywhere: ``path:line: what is wrong`` with the line as the user
sees it in a spreadsheet or editor (header = line 1). Writing is deterministic (LF, UTF-8, no index)
and atomic, so a failed step never leaves half a file behind.
"""
from __future__ import annotations

import copy
import csv
import functools
import io
import json
import os
import re
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import yaml

from .errors import InputError, Problem, raise_if

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
_UMASK = os.umask(0)
os.umask(_UMASK)


def load_schema(name: str) -> dict:
    """Load a JSON Schema (YAML) from workflow/schemas/ by file name (parsed once per process)."""
    return copy.deepcopy(_schema(name))


@functools.lru_cache(maxsize=None)
def _schema(name: str) -> dict:
    # The codes stage reads one codings TSV per coder and transcript: thousands of files, one schema.
    with open(SCHEMA_DIR / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_text_file(path: str | Path) -> str:
    """Read a UTF-8 text file (BOM stripped); a file in another encoding is a clear InputError."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(path, None, "does not exist: create it, or fix its path in config/config.yaml") from None
    except IsADirectoryError:
        raise InputError(path, None, "is a folder, not a file: fix the path in config/config.yaml") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(path, line, f"is not UTF-8 (it looks like {guess_encoding(data)}): "
                                     f"{resave_hint(path)}") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def resave_hint(path: str | Path) -> str:
    """How to re-save a file as UTF-8 in the program that most likely wrote it.

    Excel has no tab-separated UTF-8 format: its "Unicode Text" is UTF-16 and "Text (Tab delimited)"
    is the Windows code page, so a TSV goes through Notepad (or LibreOffice). Word's "Plain Text"
    asks for the encoding, where plain "Unicode" is UTF-16 too.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".tsv":
        return ("re-save it as UTF-8: in Excel, File > Save As > 'Unicode Text (*.txt)', then open that file "
                "in Notepad, File > Save As, Encoding 'UTF-8', and name it .tsv again (in LibreOffice Calc: "
                "Save As 'Text CSV', Edit filter settings, character set 'Unicode (UTF-8)', field delimiter {Tab})")
    if suffix == ".txt":
        return ("re-save it as UTF-8: in Word, File > Save As > 'Plain Text (*.txt)', then in the File "
                "Conversion box choose 'Other encoding' > 'Unicode (UTF-8)' (Word's 'Unicode' is UTF-16); "
                "in Notepad or another editor, Save As with Encoding 'UTF-8'")
    return "re-save it as UTF-8: in Notepad or another editor, Save As with Encoding 'UTF-8'"


def guess_encoding(data: bytes) -> str:
    """Name the encoding a non-UTF-8 file most likely uses, so the user knows what to convert from."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    high = [b for b in data if b >= 0x80]
    if not high:
        return "an unknown encoding"
    hebrew = sum(1 for b in high if 0xE0 <= b <= 0xFA)
    if hebrew / len(high) > 0.8 and not any(0xC0 <= b <= 0xDF for b in high):
        return "Windows-1255 (Hebrew)"
    return "Windows-1252 / ISO-8859-1 (Western European)"


def read_tsv(path: str | Path, schema: str | None = None, *, allow_empty: bool = False) -> pd.DataFrame:
    """Read a TSV as strings, check it against a JSON Schema row by row, and remember source lines.

    Every cell stays a string (an empty cell is ""), so "09" or "NA" are never reinterpreted.
    The returned frame has a ``_line`` column: the line of each row in the file, for messages.
    """
    text = read_text_file(path)
    if not text.strip():
        raise InputError(path, 1, "the file is empty: it needs a header line and at least one row")
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    header = [h.strip() for h in rows[0]]
    problems: list[Problem] = []
    records = []
    for i, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
            problems.append(Problem(str(path), i, f"has {len(row)} columns but the header has "
                                                  f"{len(header)}: check for a stray tab"))
            continue
        row = row + [""] * (len(header) - len(row))
        rec = {h: row[j].strip() for j, h in enumerate(header)}
        rec["_line"] = i
        records.append(rec)
    raise_if(problems)
    df = pd.DataFrame.from_records(records, columns=header + ["_line"])
    if df.empty and not allow_empty:
        raise InputError(path, 1, "has a header but no rows")
    if schema:
        validate_frame(df, load_schema(schema), path)
    return df


def validate_frame(df: pd.DataFrame, schema: dict, path: str | Path) -> None:
    """Check each row against a JSON Schema; every failing cell is one ``path:line:`` problem."""
    problems: list[Problem] = []
    required = schema.get("required", [])
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(path, 1, f"missing column(s) {', '.join(missing)}: the header needs "
                                  f"{', '.join(required)}")
    props = schema.get("properties", {})
    passing = _rows_passing(df, schema)
    if passing is not None:   # only the rows the column checks reject go through jsonschema
        df = df[~passing]
    if df.empty:
        return
    import jsonschema   # here, not at import: every job imports this module, few tables need it

    validator = jsonschema.Draft202012Validator(schema)
    for rec in df.to_dict("records"):
        line = rec.pop("_line", None)
        # Empty optional cells are absent, as in a spreadsheet.
        inst = {k: v for k, v in rec.items() if v != "" or k in required}
        for err in sorted(validator.iter_errors(inst), key=lambda e: list(e.path)):
            col = err.path[0] if err.path else None
            if col is not None and rec.get(col, "") == "" and col in required:
                problems.append(Problem(str(path), line, f"column {col} is empty (required)"))
            elif col is not None:
                allowed = props.get(col, {}).get("enum")
                hint = f" (allowed: {', '.join(map(str, allowed))})" if allowed else ""
                desc = props.get(col, {}).get("description", "")
                hint = hint or (f" ({desc})" if desc else "")
                problems.append(Problem(str(path), line,
                                        f"column {col}: {json.dumps(rec.get(col), ensure_ascii=False)} is not valid{hint}"))
            else:
                problems.append(Problem(str(path), line, err.message))
    raise_if(problems)


_COLUMN_KEYWORDS = {"type", "pattern", "enum", "minLength", "description"}


def _rows_passing(df: pd.DataFrame, schema: dict) -> np.ndarray | None:
    """Rows that certainly satisfy ``schema``, checked a column at a time; None if it cannot tell.

    jsonschema per row costs ~0.3 ms: 3 s for a roster of 8,000 people, at every workflow load. The
    schemas of the input tables only use string ``pattern``/``enum``/``minLength``, which are checked
    here on whole columns with the same semantics (``re.search``, code points); a schema using any
    other keyword goes row by row as before. Rows rejected here are re-checked by jsonschema, so the
    messages are exactly jsonschema's.
    """
    if set(schema) - {"$schema", "description", "type", "properties", "required"} or \
            schema.get("type", "object") != "object":
        return None
    required = set(schema.get("required", []))
    ok = np.ones(len(df), dtype=bool)
    for col, prop in schema.get("properties", {}).items():
        if set(prop) - _COLUMN_KEYWORDS or prop.get("type", "string") != "string":
            return None
        if col not in df.columns:
            continue
        values = df[col]
        if not all(isinstance(v, str) for v in values):
            return None
        bad = np.zeros(len(df), dtype=bool)
        if "pattern" in prop:
            rx = re.compile(prop["pattern"])
            bad |= np.fromiter((rx.search(v) is None for v in values), bool, len(df))
        if "enum" in prop:
            bad |= ~values.isin(prop["enum"]).to_numpy()
        if "minLength" in prop:
            bad |= np.fromiter((len(v) < prop["minLength"] for v in values), bool, len(df))
        present = np.ones(len(df), bool) if col in required else (values != "").to_numpy()
        ok &= ~(bad & present)
    return ok


@contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[io.IOBase]:
    """Write to a temporary file beside ``path`` and rename it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        kwargs = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes 0600; shared results must be readable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _to_tsv(df: pd.DataFrame, fh) -> None:
    """The pipeline's one TSV format: LF, no index, ``_line`` dropped, floats to 6 significant digits."""
    df.drop(columns=[c for c in df.columns if c == "_line"]).to_csv(
        fh, sep="\t", index=False, lineterminator="\n", float_format="%.6g")


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)   #: zip's earliest date, every entry's date in our archives


def html_text(value: object) -> str:
    """``value`` for an HTML page, as element text or a double-quoted attribute: ``& < > "`` escaped,
    apostrophes kept. The leak gate then reads a page once, since none of these references can hide a
    name (qualflow.leaks.INERT); ``html.escape``'s ``&#x27;`` for every apostrophe made it read every
    page a second time, decoded (issue 14)."""
    return ("" if value is None else str(value)).replace("&", "&amp;").replace("<", "&lt;").replace(
        ">", "&gt;").replace('"', "&quot;")


def fixed_zip_info(name: str, compress_type: int) -> zipfile.ZipInfo:
    """A zip entry's header with fixed metadata (date, Unix system, mode 644): the same content gives
    the same archive bytes on any machine, at any time (the .qdpx exports, the framework workbook)."""
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = compress_type
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def write_tsv(df: pd.DataFrame, path: str | Path) -> None:
    """Write a frame as a deterministic TSV (LF, UTF-8, no index, ``_line`` dropped)."""
    with atomic_write(path) as fh:
        _to_tsv(df, fh)


def write_text(text: str, path: str | Path) -> None:
    """Write text atomically with LF line endings."""
    with atomic_write(path) as fh:
        fh.write(text)


def sha256_file(path: str | Path) -> str:
    """Content hash, so outputs can record exactly which input they came from."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def roundtrip_tsv(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as :func:`write_tsv` then :func:`read_results_tsv` would give it back, without a file:
    a stage that takes another's table in memory sees exactly what it would read from disk."""
    import io

    buf = io.StringIO()
    _to_tsv(df, buf)
    buf.seek(0)
    return read_results_tsv(buf)


def read_results_tsv(path: str | Path) -> pd.DataFrame:
    """Read a TSV the pipeline wrote itself (no user-facing validation), strings kept as strings."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
