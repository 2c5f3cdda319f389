"""REFI-QDA (QDA-XML 1.0) project (.qdpx) and codebook (.qdc) reading and writing.

Coders work in NVivo, ATLAS.ti, MAXQDA or QualCoder; REFI-QDA is the one format they all export, so
the pipeline reads each coder's ``.qdpx`` and hands coders a ``.qdpx``/``.qdc`` coding packet.

The reader is tolerant because real exports differ (``project.qde`` or ``Project.qde``,
``sources/`` or ``Sources/``, ``plainTextPath`` with or without ``internal://``, a UTF-8 BOM, the
coder on the coding or on the selection, varying namespaces) but strict about what would silently
corrupt an analysis (offsets outside the text, references to codes or files that do not exist):
those raise :class:`~qualflow.errors.InputError` with the problem and how to fix it.

The writer emits schema-valid QDA-XML 1.0 with deterministic bytes (fixed zip timestamps, stable
element order, no wall-clock dates, derived GUIDs), so the same inputs give the same file hash in
the manifest. Offsets everywhere are Unicode code points from 0, end exclusive (``text[start:end]``).
"""
from __future__ import annotations

import hashlib
import posixpath
import re
import uuid
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from lxml import etree

from qualflow.errors import InputError, Problem, raise_if
from qualflow.tables import atomic_write, fixed_zip_info

__all__ = [
    "PROJECT_NS", "CODEBOOK_NS", "User", "Code", "Source", "Coding", "Variable", "Case", "Project",
    "read_qdpx", "read_qdc", "write_qdpx", "write_qdc", "project_xml", "codebook_xml",
    "codings_frame", "stable_guid",
]

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"

#: Namespace for :func:`stable_guid`; fixed forever so derived GUIDs never change between releases.
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:qualflow:refiqda")

# The XSD's GUIDType: canonical UUID, optionally in braces, either case.
_GUID_RE = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\})$")
_RGB_RE = re.compile(r"^#(?:[A-Fa-f0-9]{6}|[A-Fa-f0-9]{3})$")
_REEXPORT = "export the project again from your QDA tool (REFI-QDA project, .qdpx)"


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class User:
    """A person who coded; codings name their coder by the user's ``name``."""

    guid: str
    name: str


@dataclass(frozen=True)
class Code:
    """One code of the codebook; the hierarchy is kept as a parent GUID so the list stays flat."""

    guid: str
    name: str
    parent: str | None = None
    description: str = ""
    color: str | None = None
    is_codable: bool = True


@dataclass(frozen=True)
class Source:
    """A plain-text source. ``text`` has any UTF-8 BOM stripped, because offsets exclude it.

    ``path`` records where the text came from (the zip entry when read); the writer ignores it and
    always stores the text as ``sources/<guid>.txt`` (REFI-QDA 1.5 §8.1 names the folder in lower
    case; readers that follow the spec find nothing under ``Sources/``).
    """

    guid: str
    name: str
    text: str
    path: str = ""
    #: (variable guid, value) pairs: attributes of the source (a transcript's site, kind, wave)
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Variable:
    """An attribute cases and sources can have (site, setting, role, wave): written as ``Text``."""

    guid: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Case:
    """A unit of analysis above the text (a participant, a site): its attributes and its sources."""

    guid: str
    name: str
    description: str = ""
    values: tuple[tuple[str, str], ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Coding:
    """One code applied by one coder to ``source`` text ``[start, end)`` (code points from 0).

    ``coder`` is the user's name (not GUID) so codings from different files can be compared.
    """

    source: str
    start: int
    end: int
    code: str
    coder: str | None
    selection_guid: str = ""
    memo: str = ""
    #: further codes on the same selection (co-coding, e.g. a valence code); written, not read
    also: tuple[str, ...] = ()


@dataclass
class Project:
    """What the pipeline needs from a REFI-QDA project: users, codebook, text sources, codings."""

    name: str
    origin: str = ""
    users: list[User] = field(default_factory=list)
    codes: list[Code] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    codings: list[Coding] = field(default_factory=list)
    variables: list[Variable] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)


_NS_BYTES = GUID_NAMESPACE.bytes


def stable_guid(*parts: str) -> str:
    """A GUID derived from ``parts`` (uuid5), so re-running the pipeline gives the same GUIDs.

    Parts are joined with a unit separator so ``("a b", "c")`` and ``("a", "b c")`` differ.
    ``str(uuid.uuid5(GUID_NAMESPACE, name))`` computed without building a UUID object (issue 14: two
    per coding, a sixth of the codes job at 1,000 transcripts): the name's SHA-1 after the namespace,
    its first 16 bytes with RFC 4122's version 5 and variant bits.
    """
    name = "\x1f".join(str(p) for p in parts)
    b = bytearray(hashlib.sha1(_NS_BYTES + name.encode("utf-8")).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50
    b[8] = (b[8] & 0x3F) | 0x80
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


# --------------------------------------------------------------------------- reading helpers


def _local(el: etree._Element) -> str:
    """Local name of an element, so any namespace (or none) matches."""
    tag = el.tag
    if not isinstance(tag, str):  # comments, processing instructions
        return ""
    return etree.QName(tag).localname


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if _local(c) == name]


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if _local(c) == name:
            return c
    return None


def _descendants(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el.iter() if _local(c) == name]


def _guid_key(guid: str | None) -> str:
    """Comparison key for GUIDs: the XSD allows braces and either case for the same GUID."""
    return (guid or "").strip().strip("{}").lower()


def _attr(el: etree._Element, name: str) -> str | None:
    """Attribute by local name (tools sometimes qualify attributes with a prefix)."""
    if name in el.attrib:
        return el.attrib[name]
    for k, v in el.attrib.items():
        if etree.QName(k).localname == name:
            return v
    return None


def _bool(value: str | None, default: bool = True) -> bool:
    if value is None:
        return default
    return value.strip().lower() not in {"false", "0", "no"}


def _parse_xml(data: bytes, path: str, inner: str) -> etree._Element:
    """Parse without network access or entity expansion: project files come from outside."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise InputError(path, line, f"{inner} is not well-formed XML ({exc.msg}): the file is "
                                     f"damaged or was edited by hand; {_REEXPORT}") from None


def _read_codes(container: etree._Element) -> list[Code]:
    """Flatten nested ``Code`` elements depth-first, keeping each child's parent GUID."""
    out: list[Code] = []

    def walk(el: etree._Element, parent: str | None) -> None:
        for c in el:
            if _local(c) != "Code":
                continue
            guid = (_attr(c, "guid") or "").strip()
            desc_el = _child(c, "Description")
            out.append(Code(
                guid=guid,
                name=_attr(c, "name") or "",
                parent=parent,
                description=(desc_el.text or "") if desc_el is not None else "",
                color=_attr(c, "color"),
                is_codable=_bool(_attr(c, "isCodable")),
            ))
            walk(c, guid)

    walk(container, None)
    return out


def _codes_container(root: etree._Element) -> etree._Element | None:
    """The ``Codes`` element wherever it sits (CodeBook/Codes normally)."""
    for el in root.iter():
        if _local(el) == "Codes":
            return el
    return None


def _decode_text(data: bytes) -> str | None:
    """Source bytes to text with the BOM stripped; ``None`` if it is not plain text."""
    if data.startswith((b"PK\x03\x04", b"%PDF", b"\xd0\xcf\x11\xe0")):  # docx/zip, pdf, doc
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


class _Zip:
    """Zip entries looked up exactly first, then case-insensitively (``Sources/`` vs ``sources/``)."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.names = [n for n in zf.namelist() if not n.endswith("/")]
        self.lower: dict[str, str] = {}
        for n in self.names:
            self.lower.setdefault(n.replace("\\", "/").lower(), n)

    def read(self, name: str, spath: str) -> bytes:
        """Entry bytes; a damaged archive is the user's input problem, not a crash."""
        try:
            return self.zf.read(name)
        except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError) as exc:
            raise InputError(spath, None, f"{name} inside {spath} cannot be read ({exc}): the "
                                          f"archive is damaged; {_REEXPORT}") from None

    def find(self, name: str) -> str | None:
        if name in self.names:
            return name
        return self.lower.get(name.replace("\\", "/").lower())


def _find_project_entry(z: _Zip) -> str | None:
    """``project.qde`` at any case, preferring the top level; else any single ``.qde``."""
    qde = [n for n in z.names if n.lower().endswith(".qde") and "__macosx" not in n.lower()]
    exact = [n for n in qde if posixpath.basename(n.replace("\\", "/")).lower() == "project.qde"]
    for group in (exact, qde):
        if group:
            return sorted(group, key=lambda n: (n.count("/"), n))[0]
    return None


def _name_from_path(ref: str | None) -> str:
    """A name for an unnamed source (qc omits it): the plain-text file's stem, e.g. ``board_2017``."""
    if not ref or not ref.strip():
        return ""
    return posixpath.splitext(posixpath.basename(ref.strip().replace("\\", "/")))[0]


def _source_candidates(ref: str, base: str) -> list[str]:
    """Zip entry names a ``plainTextPath`` may mean: with/without ``internal://``, under sources/."""
    p = ref.strip().replace("\\", "/")
    if p.lower().startswith("internal://"):
        p = p[len("internal://"):]
    p = p.lstrip("/")
    names = [p, f"sources/{p}", f"sources/{posixpath.basename(p)}"]
    if base:
        names = [posixpath.join(base, n) for n in names] + names
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------- readers


def read_qdpx(path: str | Path) -> Project:
    """Read a coder's ``.qdpx`` export into a :class:`Project` (plain-text sources only).

    Non-text sources (PDF, picture, audio, video) are skipped: their selections have no character
    offsets. A coding directly on a ``TextSource`` (no selection) covers the whole text.
    Raises :class:`InputError` for anything that would make codings point at the wrong text.
    """
    spath = str(path)
    if not Path(path).is_file():
        raise InputError(spath, None, f"{spath} does not exist: check the file name, or export "
                                      "the coder's project from the QDA tool as a .qdpx")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise InputError(spath, None, f"{spath} is not a .qdpx (zip) file: {_REEXPORT}") from None
    with zf:
        z = _Zip(zf)
        entry = _find_project_entry(z)
        if entry is None:
            raise InputError(spath, None, f"{spath} contains no project.qde (the REFI-QDA project "
                                          f"file; found: {', '.join(z.names[:5]) or 'nothing'}): "
                                          f"{_REEXPORT}")
        root = _parse_xml(z.read(entry, spath), spath, entry)
        if _local(root) != "Project":
            raise InputError(spath, root.sourceline, f"{entry} has root element <{_local(root)}>, "
                                                     f"not <Project>: {_REEXPORT}")
        base = posixpath.dirname(entry.replace("\\", "/"))
        return _read_project(root, z, spath, entry, base)


def _read_project(root: etree._Element, z: _Zip, spath: str, entry: str, base: str) -> Project:
    problems: list[Problem] = []

    users: list[User] = []
    users_el = _child(root, "Users")
    for u in _children(users_el, "User") if users_el is not None else []:
        guid = (_attr(u, "guid") or "").strip()
        users.append(User(guid=guid, name=_attr(u, "name") or _attr(u, "id") or guid))
    user_name = {_guid_key(u.guid): u.name for u in users}

    codebook = None
    for el in root:
        if _local(el) == "CodeBook":
            codebook = el
    codes_el = _codes_container(codebook) if codebook is not None else None
    codes = _read_codes(codes_el) if codes_el is not None else []
    code_guid = {_guid_key(c.guid): c.guid for c in codes}
    code_name = {_guid_key(c.guid): c.name for c in codes}

    def coder_of(*els: etree._Element) -> str | None:
        for el in els:
            g = _attr(el, "creatingUser")
            if g and g.strip():
                return user_name.get(_guid_key(g), g.strip())
        return None

    sources: list[Source] = []
    codings: list[Coding] = []
    sources_el = _child(root, "Sources")
    text_sources = _children(sources_el, "TextSource") if sources_el is not None else []
    for ts in text_sources:
        sguid = (_attr(ts, "guid") or "").strip()
        sname = _attr(ts, "name") or _name_from_path(_attr(ts, "plainTextPath")) or sguid
        selections = _descendants(ts, "PlainTextSelection")
        text, where = _source_text(ts, z, spath, entry, base, sname, len(selections), problems)
        if text is None:
            continue
        sources.append(Source(guid=sguid, name=sname, text=text, path=where))

        def add(coding_el: etree._Element, sel: etree._Element | None,
                start: int, end: int, sel_guid: str, memo: str) -> None:
            ref = _child(coding_el, "CodeRef")
            target = (_attr(ref, "targetGUID") or "").strip() if ref is not None else ""
            line = (ref if ref is not None else coding_el).sourceline
            if not target:
                problems.append(Problem(spath, line, (
                    f"{entry}: a Coding in source '{sname}' has no CodeRef targetGUID: "
                    f"{_REEXPORT}")))
                return
            if _guid_key(target) not in code_guid:
                problems.append(Problem(spath, line, (
                    f"{entry}: a Coding in source '{sname}' (offsets {start}-{end}) refers to code "
                    f"{target}, which is not in the project's CodeBook: the code was deleted or "
                    f"the codebook was not exported; restore the code or remove that coding, "
                    f"then {_REEXPORT}")))
                return
            els = [coding_el] + ([sel] if sel is not None else [])
            codings.append(Coding(source=sguid, start=start, end=end,
                                  code=code_guid[_guid_key(target)], coder=coder_of(*els),
                                  selection_guid=sel_guid, memo=memo))

        for sel in selections:
            sel_guid = (_attr(sel, "guid") or "").strip()
            span = _offsets(sel, text, spath, entry, sname, problems)
            if span is None:
                continue
            desc = _child(sel, "Description")
            memo = (desc.text or "") if desc is not None else ""
            for c in _children(sel, "Coding"):
                add(c, sel, span[0], span[1], sel_guid, memo)
        for c in _children(ts, "Coding"):  # whole-source coding
            add(c, None, 0, len(text), "", "")

    raise_if(problems)
    name = _attr(root, "name") or ""
    return Project(name=name, origin=_attr(root, "origin") or "", users=users, codes=codes,
                   sources=sources, codings=codings)


def _source_text(ts: etree._Element, z: _Zip, spath: str, entry: str, base: str, sname: str,
                 n_selections: int, problems: list[Problem]) -> tuple[str | None, str]:
    """The plain text of a TextSource: inline PlainTextContent or the plainTextPath file.

    A rich-text file (richTextPath, e.g. .docx) is never used: offsets refer to the plain text.
    """
    content = _child(ts, "PlainTextContent")
    ref = _attr(ts, "plainTextPath")
    if content is not None and not (ref and ref.strip()):
        text = content.text or ""
        return (text[1:] if text.startswith("\ufeff") else text), ""
    refs_by = (f" ({n_selections} coded selection{'s' if n_selections != 1 else ''} refer"
               f"{'' if n_selections != 1 else 's'} to it)") if n_selections else ""
    if not (ref and ref.strip()):
        problems.append(Problem(spath, ts.sourceline, (
            f"{entry}: source '{sname}' has no plain text (neither plainTextPath nor "
            f"PlainTextContent){refs_by}: {_REEXPORT}, with the sources included")))
        return None, ""
    if re.match(r"^(relative|absolute)://", ref.strip(), re.I):
        problems.append(Problem(spath, ts.sourceline, (
            f"{entry}: source '{sname}' is linked to an external file {ref!r}{refs_by}, not "
            f"stored in the .qdpx: {_REEXPORT}, with the source files embedded")))
        return None, ""
    found = None
    for cand in _source_candidates(ref, base):
        found = z.find(cand)
        if found:
            break
    if found is None:
        problems.append(Problem(spath, ts.sourceline, (
            f"{entry}: source '{sname}' refers to {ref!r}, which is missing from the .qdpx"
            f"{refs_by}: the archive is incomplete; {_REEXPORT}, with its sources")))
        return None, ""
    text = _decode_text(z.read(found, spath))
    if text is None:
        problems.append(Problem(spath, ts.sourceline, (
            f"{entry}: source '{sname}' file {found!r} is not UTF-8 plain text: {_REEXPORT}")))
        return None, found
    return text, found


def _offsets(sel: etree._Element, text: str, spath: str, entry: str, sname: str,
             problems: list[Problem]) -> tuple[int, int] | None:
    """Check a selection's offsets against its source text; a bad one is a shifted coding."""
    raw_start, raw_end = _attr(sel, "startPosition"), _attr(sel, "endPosition")
    try:
        start, end = int((raw_start or "").strip()), int((raw_end or "").strip())
    except ValueError:
        problems.append(Problem(spath, sel.sourceline, (
            f"{entry}: a selection in source '{sname}' has startPosition={raw_start!r} "
            f"endPosition={raw_end!r}, which are not whole numbers: {_REEXPORT}")))
        return None
    n = len(text)
    what = None
    if start < 0 or end < 0:
        what = "a negative offset"
    elif start > end:
        what = "its start after its end"
    elif end > n:
        what = "offsets past the end of the text"
    if what:
        problems.append(Problem(spath, sel.sourceline, (
            f"{entry}: a selection in source '{sname}' has {what} (start {start}, end {end}; the "
            f"text is {n} characters long): the source text was changed after coding, or the "
            f"wrong file was exported; check the source in the QDA tool is the current "
            f"transcript, then {_REEXPORT}")))
        return None
    return start, end


def read_qdc(path: str | Path) -> list[Code]:
    """Read a REFI-QDA codebook (``.qdc``); any namespace (``codebook:1.0``, ``1:0``, none)."""
    spath = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(spath, None, f"{spath} does not exist: check the file name, or export "
                                      "the codebook from the QDA tool as a .qdc")
    data = p.read_bytes()
    if data.startswith(b"PK\x03\x04"):
        raise InputError(spath, None, f"{spath} is a zip archive, not a .qdc codebook (a .qdpx "
                                      "project?): read it as a project, or export the codebook "
                                      "alone as REFI-QDA codebook (.qdc)")
    root = _parse_xml(data, spath, Path(spath).name)
    if _local(root) not in {"CodeBook", "Project", "Codes"}:
        raise InputError(spath, root.sourceline, f"root element is <{_local(root)}>, not "
                                                 "<CodeBook>: export the codebook again as "
                                                 "REFI-QDA codebook (.qdc)")
    codes_el = root if _local(root) == "Codes" else _codes_container(root)
    if codes_el is None:
        raise InputError(spath, root.sourceline, "the codebook has no <Codes> element: export "
                                                 "the codebook again as REFI-QDA codebook (.qdc)")
    codes = _read_codes(codes_el)
    problems = [Problem(spath, None, f"code {c.name!r} has no guid: export the codebook again")
                for c in codes if not c.guid]
    raise_if(problems)
    return codes


# --------------------------------------------------------------------------- writers


def _check_guid(guid: str, what: str) -> None:
    if not isinstance(guid, str) or not _GUID_RE.match(guid):
        raise ValueError(f"{what} guid {guid!r} is not a UUID (QDA-XML GUIDType); derive one with "
                         "stable_guid(...)")


def _code_tree(codes: list[Code], ns: str, parent_el: etree._Element) -> None:
    """Nest codes under their parents, children in list order, so the tree is stable."""
    by_key: dict[str, Code] = {}
    for c in codes:
        _check_guid(c.guid, f"code {c.name!r}")
        if _guid_key(c.guid) in by_key:
            raise ValueError(f"code guid {c.guid} is used twice ({by_key[_guid_key(c.guid)].name!r}"
                             f" and {c.name!r})")
        if c.color is not None and not _RGB_RE.match(c.color):
            raise ValueError(f"code {c.name!r} color {c.color!r} is not #RRGGBB or #RGB")
        by_key[_guid_key(c.guid)] = c
    children: dict[str | None, list[Code]] = {}
    for c in codes:
        pk = _guid_key(c.parent) if c.parent else None
        if pk is not None and pk not in by_key:
            raise ValueError(f"code {c.name!r} has parent {c.parent}, which is not in the codes")
        children.setdefault(pk, []).append(c)

    written: set[str] = set()

    def emit(code: Code, into: etree._Element) -> None:
        key = _guid_key(code.guid)
        written.add(key)
        el = etree.SubElement(into, f"{{{ns}}}Code")
        el.set("guid", code.guid)
        el.set("name", code.name)
        el.set("isCodable", "true" if code.is_codable else "false")
        if code.color:
            el.set("color", code.color)
        if code.description:
            etree.SubElement(el, f"{{{ns}}}Description").text = code.description
        for child in children.get(key, []):
            emit(child, el)

    for top in children.get(None, []):
        emit(top, parent_el)
    if len(written) != len(by_key):
        loop = sorted(c.name for k, c in by_key.items() if k not in written)
        raise ValueError(f"codes {loop} form a parent cycle, so they cannot be nested")


def _xml_bytes(root: etree._Element) -> bytes:
    """UTF-8, indented, with the conventional double-quoted declaration some tools expect."""
    body = etree.tostring(root, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _zip_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Store an entry with fixed metadata: the same content gives the same bytes on any OS.

    Entries are stored uncompressed because deflate output can differ between zlib builds.
    """
    zf.writestr(fixed_zip_info(name, zipfile.ZIP_STORED), data)


def project_xml(project: Project) -> bytes:
    """The ``project.qde`` bytes for ``project`` (used by :func:`write_qdpx`; handy for tests)."""
    ns = PROJECT_NS
    root = etree.Element(f"{{{ns}}}Project", nsmap={None: ns})
    root.set("name", project.name)
    if project.origin:
        root.set("origin", project.origin)

    user_guid: dict[str, str] = {}
    for u in project.users:
        _check_guid(u.guid, f"user {u.name!r}")
        if u.name in user_guid:
            raise ValueError(f"two users are named {u.name!r}: coders are identified by name")
        user_guid[u.name] = u.guid
    if project.users:
        users_el = etree.SubElement(root, f"{{{ns}}}Users")
        for u in project.users:
            etree.SubElement(users_el, f"{{{ns}}}User", guid=u.guid, name=u.name)

    if project.codes:
        codes_el = etree.SubElement(etree.SubElement(root, f"{{{ns}}}CodeBook"), f"{{{ns}}}Codes")
        _code_tree(project.codes, ns, codes_el)
    code_keys = {_guid_key(c.guid) for c in project.codes}

    var_keys: set[str] = set()
    if project.variables:
        vars_el = etree.SubElement(root, f"{{{ns}}}Variables")
        for v in project.variables:
            _check_guid(v.guid, f"variable {v.name!r}")
            var_keys.add(_guid_key(v.guid))
            el = etree.SubElement(vars_el, f"{{{ns}}}Variable", guid=v.guid, name=v.name,
                                  typeOfVariable="Text")
            if v.description:
                etree.SubElement(el, f"{{{ns}}}Description").text = v.description
    source_keys = {_guid_key(s.guid) for s in project.sources}

    def values(into: etree._Element, pairs: tuple[tuple[str, str], ...], what: str) -> None:
        for vguid, value in pairs:
            if _guid_key(vguid) not in var_keys:
                raise ValueError(f"{what} has a value for variable {vguid}, which is not declared")
            vv = etree.SubElement(into, f"{{{ns}}}VariableValue")
            etree.SubElement(vv, f"{{{ns}}}VariableRef", targetGUID=vguid)
            etree.SubElement(vv, f"{{{ns}}}TextValue").text = value

    if project.cases:
        cases_el = etree.SubElement(root, f"{{{ns}}}Cases")
        for case in project.cases:
            _check_guid(case.guid, f"case {case.name!r}")
            el = etree.SubElement(cases_el, f"{{{ns}}}Case", guid=case.guid, name=case.name)
            if case.description:
                etree.SubElement(el, f"{{{ns}}}Description").text = case.description
            values(el, case.values, f"case {case.name!r}")
            for sg in case.sources:
                if _guid_key(sg) not in source_keys:
                    raise ValueError(f"case {case.name!r} refers to source {sg}, not in the project")
                etree.SubElement(el, f"{{{ns}}}SourceRef", targetGUID=sg)

    source_by_key: dict[str, Source] = {}
    for s in project.sources:
        _check_guid(s.guid, f"source {s.name!r}")
        if _guid_key(s.guid) in source_by_key:
            raise ValueError(f"source guid {s.guid} is used twice")
        if s.text.startswith("\ufeff"):
            raise ValueError(f"source {s.name!r} text starts with a BOM; strip it (offsets exclude "
                             "it, and readers strip it)")
        source_by_key[_guid_key(s.guid)] = s

    by_source: dict[str, list[Coding]] = {}
    for c in dict.fromkeys(project.codings):  # exact duplicates once, order kept
        s = source_by_key.get(_guid_key(c.source))
        if s is None:
            raise ValueError(f"a coding refers to source {c.source}, which is not in the project")
        if _guid_key(c.code) not in code_keys:
            raise ValueError(f"a coding refers to code {c.code}, which is not in the codebook")
        if not 0 <= c.start <= c.end <= len(s.text):
            raise ValueError(f"coding {c.start}-{c.end} lies outside source {s.name!r} "
                             f"({len(s.text)} characters)")
        if c.coder is not None and c.coder not in user_guid:
            raise ValueError(f"coder {c.coder!r} is not among the project's users")
        if c.selection_guid:
            _check_guid(c.selection_guid, "selection")
        by_source.setdefault(_guid_key(c.source), []).append(c)

    # One selection per coding: reuse the coding's selection guid only where it is unique.
    sel_uses = Counter(_guid_key(c.selection_guid) for cs in by_source.values() for c in cs
                       if c.selection_guid)

    if project.sources:
        sources_el = etree.SubElement(root, f"{{{ns}}}Sources")
        for s in project.sources:
            ts = etree.SubElement(sources_el, f"{{{ns}}}TextSource")
            ts.set("guid", s.guid)
            ts.set("name", s.name)
            ts.set("plainTextPath", f"internal://{s.guid}.txt")
            codings = sorted(by_source.get(_guid_key(s.guid), []),
                             key=lambda c: (c.start, c.end, c.code.lower(), c.coder or "",
                                            c.selection_guid.lower(), c.memo))
            for c in codings:
                coder_guid = user_guid.get(c.coder) if c.coder is not None else None
                if c.selection_guid and sel_uses[_guid_key(c.selection_guid)] == 1:
                    sel_guid = c.selection_guid
                else:
                    sel_guid = stable_guid("selection", s.guid, str(c.start), str(c.end), c.code,
                                           c.coder or "", c.selection_guid, c.memo)
                sel = etree.SubElement(ts, f"{{{ns}}}PlainTextSelection")
                sel.set("guid", sel_guid)
                sel.set("startPosition", str(c.start))
                sel.set("endPosition", str(c.end))
                if coder_guid:
                    sel.set("creatingUser", coder_guid)
                if c.memo:
                    etree.SubElement(sel, f"{{{ns}}}Description").text = c.memo
                cod = etree.SubElement(sel, f"{{{ns}}}Coding")
                cod.set("guid", stable_guid("coding", sel_guid, c.code))
                if coder_guid:
                    cod.set("creatingUser", coder_guid)
                etree.SubElement(cod, f"{{{ns}}}CodeRef", targetGUID=c.code)
                for extra in c.also:
                    if _guid_key(extra) not in code_keys:
                        raise ValueError(f"a coding refers to code {extra}, which is not in the codebook")
                    cod = etree.SubElement(sel, f"{{{ns}}}Coding")
                    cod.set("guid", stable_guid("coding", sel_guid, extra))
                    if coder_guid:
                        cod.set("creatingUser", coder_guid)
                    etree.SubElement(cod, f"{{{ns}}}CodeRef", targetGUID=extra)
            values(ts, s.values, f"source {s.name!r}")
    return _xml_bytes(root)


def write_qdpx(path: str | Path, project: Project) -> None:
    """Write ``project`` as a QDA-XML 1.0 ``.qdpx``; the same Project gives byte-identical files.

    Sources go to ``sources/<guid>.txt`` (UTF-8, no BOM; lower case as REFI-QDA 1.5 §8.1 says), referenced as ``internal://<guid>.txt``;
    each coding becomes one ``PlainTextSelection`` with one ``Coding``. Raises ``ValueError`` for
    an inconsistent Project (a programming error, not a user's input).
    """
    xml = project_xml(project)
    files = sorted((f"sources/{s.guid}.txt", s.text.encode("utf-8")) for s in project.sources)

    with atomic_write(path, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
        _zip_entry(zf, "project.qde", xml)
        for name, data in files:
            _zip_entry(zf, name, data)


def codebook_xml(codes: list[Code], origin: str = "qualflow") -> bytes:
    """The ``.qdc`` bytes for ``codes`` (used by :func:`write_qdc`)."""
    ns = CODEBOOK_NS
    root = etree.Element(f"{{{ns}}}CodeBook", nsmap={None: ns})
    if origin:
        root.set("origin", origin)
    codes_el = etree.SubElement(root, f"{{{ns}}}Codes")
    _code_tree(list(codes), ns, codes_el)
    return _xml_bytes(root)


def write_qdc(path: str | Path, codes: list[Code], origin: str = "qualflow") -> None:
    """Write a REFI-QDA codebook (``urn:QDA-XML:codebook:1.0``), nested by parent, deterministic."""
    if not codes:
        raise ValueError("a REFI-QDA codebook needs at least one code")
    data = codebook_xml(codes, origin)
    with atomic_write(path, "wb") as fh:
        fh.write(data)


# --------------------------------------------------------------------------- tables


CODINGS_COLUMNS = ["coder", "source", "source_name", "start", "end", "code", "code_name", "text"]


def codings_frame(project: Project) -> pd.DataFrame:
    """One row per coding with its source name, code name and coded text, for audit and joins.

    Sorted by coder, source name, start, end, code name (stable), so output files diff cleanly.
    """
    sources = {_guid_key(s.guid): s for s in project.sources}
    code_names = {_guid_key(c.guid): c.name for c in project.codes}
    rows = []
    for c in project.codings:
        s = sources.get(_guid_key(c.source))
        rows.append({
            "coder": c.coder,
            "source": c.source,
            "source_name": s.name if s else "",
            "start": c.start,
            "end": c.end,
            "code": c.code,
            "code_name": code_names.get(_guid_key(c.code), ""),
            "text": s.text[c.start:c.end] if s else "",
        })
    df = pd.DataFrame(rows, columns=CODINGS_COLUMNS)
    df["start"] = df["start"].astype("int64")
    df["end"] = df["end"].astype("int64")
    if len(df):
        df = df.sort_values(["coder", "source_name", "source", "start", "end", "code_name", "code"],
                            kind="mergesort", na_position="last").reset_index(drop=True)
    return df
