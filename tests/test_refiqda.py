"""Tests for qualflow.refiqda: real exports (NVivo, qc), a two-coder round trip, bad input, tolerance.

Fixtures are read in place from ../shared/fixtures/refi-qda/ (never copied into the project);
tests that need them skip when that folder is absent.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from qualflow.errors import InputError
from qualflow.refiqda import (
    CODEBOOK_NS,
    PROJECT_NS,
    Code,
    Coding,
    Project,
    Source,
    User,
    codings_frame,
    read_qdc,
    read_qdpx,
    stable_guid,
    write_qdc,
    write_qdpx,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures" / "refi-qda"
NVIVO = FIXTURES / "nvivo-mac-15_codes-users_qc-repo.qdpx"
QC = FIXTURES / "qc-1.3.2_demo_158-selections.qdpx"
XSD = FIXTURES / "Project-mrt2019.xsd"

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@pytest.fixture(scope="module")
def fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"REFI-QDA fixtures not found at {FIXTURES} (the shared fixtures folder "
                    "beside the repository is absent)")
    return FIXTURES


@pytest.fixture(scope="module")
def schema(fixtures: Path) -> etree.XMLSchema:
    return etree.XMLSchema(file=str(fixtures / XSD.name))


def _qde(path: Path) -> etree._Element:
    with zipfile.ZipFile(path) as zf:
        return etree.fromstring(zf.read("project.qde"))


def _key(c: Coding) -> tuple:
    """A coding without its selection GUID (the writer may derive a new one)."""
    return (c.source, c.start, c.end, c.code, c.coder, c.memo)


# --------------------------------------------------------------------------- real exports


def test_nvivo_users_codes_sources(fixtures: Path) -> None:
    p = read_qdpx(fixtures / NVIVO.name)
    assert p.origin == "NVivo for Mac 15.0.0"
    assert p.users == [User("1b0b1791-be46-4557-9957-7333544cfaf2", "chrisp"),
                       User("39633935-3331-3962-6632-373436373264", "cp")]
    assert len(p.codes) == 262
    assert len({c.guid for c in p.codes}) == 262
    by_guid = {c.guid: c for c in p.codes}
    roots = [c.name for c in p.codes if c.parent is None]
    assert roots == ["rq1_definition", "rq2_curriculum_and_instruction", "rq3_process"]
    # rq1_definition > competencies > programming, read from the file
    competencies = by_guid["31366536-3938-3831-6231-633830313036"]
    assert competencies.name == "competencies"
    assert by_guid[competencies.parent].name == "rq1_definition"
    programming = by_guid["36636563-3863-6264-3638-303637613863"]
    assert programming.name == "programming" and programming.parent == competencies.guid
    restructure = next(c for c in p.codes if c.name == "restructure_curriculum")
    assert by_guid[restructure.parent].name == "restructuring_high_school"
    assert all(c.parent is None or c.parent in by_guid for c in p.codes)
    # 2 text sources; the .docx rich text beside each is ignored, the one-newline .txt is used
    assert len(p.sources) == 2
    assert {s.guid for s in p.sources} == {"d097e6fd-7671-4d95-a8b6-7795fa4a72e1",
                                           "e65f5ee2-9a55-47f1-bb0b-4921d8ce15c4"}
    assert all(s.text == "\n" and s.path.endswith(".txt") for s in p.sources)
    assert p.codings == []


def test_qc_selections_codings_and_texts(fixtures: Path) -> None:
    path = fixtures / QC.name
    p = read_qdpx(path)
    assert len(p.codings) == 205
    assert len({c.selection_guid for c in p.codings}) == 158
    assert {c.coder for c in p.codings} == {"cp"}  # creatingUser guid resolved to the user's name
    board = next(s for s in p.sources if s.name == "board_2017")  # name from plainTextPath
    assert len(board.text) == 52543
    assert {c.source for c in p.codings} == {board.guid}

    # every selection's text is the whole source line its qc name ("line:N", 0-based) says
    root = _qde(path)
    sel_line = {s.get("guid"): int(s.get("name").split(":")[1])
                for s in root.iter(f"{{{PROJECT_NS}}}PlainTextSelection")}
    assert len(sel_line) == 158
    lines = board.text.splitlines(keepends=True)
    for c in p.codings:
        assert board.text[c.start:c.end] == lines[sel_line[c.selection_guid]]

    first = p.codings[0]
    assert (first.start, first.end) == (320, 400)
    assert board.text[first.start:first.end] == (
        "This district goal is engage every student in joyful, purposeful learning that \n")
    codes = {c.guid: c for c in p.codes}
    assert codes[first.code].name == "fun"

    df = codings_frame(p)
    assert list(df.columns) == ["coder", "source", "source_name", "start", "end", "code",
                                "code_name", "text"]
    assert len(df) == 205
    assert df["start"].is_monotonic_increasing
    assert (df["text"] == [board.text[s:e] for s, e in zip(df["start"], df["end"])]).all()
    assert df.iloc[0]["text"].startswith("This district goal")


def test_qc_rewrite_validates_and_keeps_codings(fixtures: Path, schema: etree.XMLSchema,
                                                tmp_path: Path) -> None:
    p = read_qdpx(fixtures / QC.name)
    out = tmp_path / "qc.qdpx"
    write_qdpx(out, p)
    root = _qde(out)
    assert schema.validate(root.getroottree()), schema.error_log
    # one PlainTextSelection per coding
    assert len(list(root.iter(f"{{{PROJECT_NS}}}PlainTextSelection"))) == 205
    back = read_qdpx(out)
    assert {_key(c) for c in back.codings} == {_key(c) for c in p.codings}
    assert [(c.guid, c.name, c.parent) for c in back.codes] == \
        [(c.guid, c.name, c.parent) for c in p.codes]


# --------------------------------------------------------------------------- round trip


U_A = User(stable_guid("user", "coder_a"), "coder_a")
U_B = User(stable_guid("user", "Jürgen"), "Jürgen")
C_HOPE = Code(stable_guid("code", "hope"), "Hope", None, "Hoffnung – Zuversicht", "#3366CC", False)
C_PEER = Code(stable_guid("code", "peer"), "Peer support", C_HOPE.guid, "support by peers")
C_LIVED = Code(stable_guid("code", "lived"), "Lived experience", C_PEER.guid)
C_STIGMA = Code(stable_guid("code", "stigma"), "Stigma", None, color="#a00")
C_HEB = Code(stable_guid("code", "heb"), "תקווה", C_HOPE.guid)

DE_TEXT = "P01: Die Genesungsbegleiterin hat mir Mut gemacht. Übrigens: schön, dass es sie gibt 😀.\n"
HE_TEXT = "P02: העבודה עם עמית נתנה לי תקווה.\nP03: כן, גם לי.\n"
BOM_RAW = "\ufeffP04: Stigma is still everywhere.\n"


def _two_coder_project() -> Project:
    de = Source(stable_guid("source", "ulm.FG1"), "ulm.FG1", DE_TEXT)
    he = Source(stable_guid("source", "beersheva.FG1"), "beersheva.FG1", HE_TEXT)
    bom = Source(stable_guid("source", "hamburg.FG2"), "hamburg.FG2", BOM_RAW.lstrip("\ufeff"))
    umlaut = DE_TEXT.index("Übrigens")
    codings = [
        # overlapping spans, same code, two coders
        Coding(de.guid, 5, 50, C_PEER.guid, "coder_a"),
        Coding(de.guid, 20, 60, C_PEER.guid, "Jürgen"),
        # same span, two codes, one coder; one with a memo
        Coding(de.guid, umlaut, len(DE_TEXT) - 1, C_HOPE.guid, "coder_a", memo="schön ✓"),
        Coding(de.guid, umlaut, len(DE_TEXT) - 1, C_LIVED.guid, "coder_a"),
        # Hebrew, after an emoji-free line; and a span ending after the astral-plane emoji
        Coding(he.guid, 5, HE_TEXT.index("\n"), C_HEB.guid, "Jürgen"),
        Coding(he.guid, 0, len(HE_TEXT), C_HOPE.guid, "coder_a"),
        Coding(de.guid, DE_TEXT.index("😀"), DE_TEXT.index("😀") + 1, C_HOPE.guid, "Jürgen"),
        Coding(bom.guid, 5, 11, C_STIGMA.guid, "coder_a"),
        Coding(bom.guid, 5, 11, C_STIGMA.guid, "Jürgen"),
        Coding(bom.guid, 0, 0, C_STIGMA.guid, None),  # empty span, no coder recorded
    ]
    return Project("UPSIDES coding packet", "qualflow test", [U_A, U_B],
                   [C_HOPE, C_PEER, C_LIVED, C_HEB, C_STIGMA], [de, he, bom], codings)


def test_round_trip_two_coders(tmp_path: Path) -> None:
    p = _two_coder_project()
    out = tmp_path / "packet.qdpx"
    write_qdpx(out, p)
    back = read_qdpx(out)
    assert {_key(c) for c in back.codings} == {_key(c) for c in p.codings}
    assert len(back.codings) == len(p.codings)
    assert back.users == p.users
    assert back.codes == p.codes  # depth-first order, parents, descriptions, colours, isCodable
    assert [(s.guid, s.name, s.text) for s in back.sources] == \
        [(s.guid, s.name, s.text) for s in p.sources]
    assert all(GUID_RE.match(c.selection_guid) for c in back.codings)
    # offsets are code points: the emoji is one character, umlauts and Hebrew are not bytes
    df = codings_frame(back)
    assert "😀" in set(df["text"])
    assert "העבודה עם עמית נתנה לי תקווה." in set(df["text"])
    assert set(df.loc[df["code_name"] == "Stigma", "text"]) == {"Stigma", ""}
    memo = next(c for c in back.codings if c.memo)
    assert memo.memo == "schön ✓" and memo.code == C_HOPE.guid
    # the stored source file has no BOM and is UTF-8
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert names[0] == "project.qde"
        assert f"sources/{p.sources[2].guid}.txt" in names      # REFI-QDA 1.5 §8.1: lower case
        assert not any(n.startswith("Sources/") for n in names)
        assert zf.read(f"sources/{p.sources[2].guid}.txt") == BOM_RAW[1:].encode("utf-8")
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())


def test_written_project_validates_against_xsd(schema: etree.XMLSchema, tmp_path: Path) -> None:
    out = tmp_path / "packet.qdpx"
    write_qdpx(out, _two_coder_project())
    root = _qde(out)
    assert schema.validate(root.getroottree()), schema.error_log
    assert root.tag == f"{{{PROJECT_NS}}}Project"
    sels = list(root.iter(f"{{{PROJECT_NS}}}PlainTextSelection"))
    assert len(sels) == 10
    for ts in root.iter(f"{{{PROJECT_NS}}}TextSource"):
        assert ts.get("plainTextPath") == f"internal://{ts.get('guid')}.txt"
    codings = list(root.iter(f"{{{PROJECT_NS}}}Coding"))
    assert {c.get("creatingUser") for c in codings} == {U_A.guid, U_B.guid, None}
    assert all(c.find(f"{{{PROJECT_NS}}}CodeRef").get("targetGUID") for c in codings)
    assert "creationDateTime" not in etree.tostring(root).decode()


def test_write_is_byte_identical(tmp_path: Path) -> None:
    a, b = tmp_path / "a.qdpx", tmp_path / "b" / "b.qdpx"
    write_qdpx(a, _two_coder_project())
    write_qdpx(b, _two_coder_project())
    assert a.read_bytes() == b.read_bytes()
    qa, qb = tmp_path / "a.qdc", tmp_path / "b.qdc"
    write_qdc(qa, _two_coder_project().codes)
    write_qdc(qb, _two_coder_project().codes)
    assert qa.read_bytes() == qb.read_bytes()


def test_stable_guid_is_deterministic_and_schema_shaped() -> None:
    g = stable_guid("user", "coder_a")
    assert g == stable_guid("user", "coder_a") == "efec5ecc-b636-5300-92cb-bfdd67bf25f5"
    assert GUID_RE.match(g)
    assert stable_guid("user", "coder_b") != g
    assert stable_guid("ab", "c") != stable_guid("a", "bc")


def test_codebook_round_trip(schema: etree.XMLSchema, tmp_path: Path) -> None:
    codes = _two_coder_project().codes
    out = tmp_path / "codebook.qdc"
    write_qdc(out, codes)
    assert read_qdc(out) == codes
    root = etree.parse(str(out)).getroot()
    assert root.tag == f"{{{CODEBOOK_NS}}}CodeBook"
    # No codebook XSD is provided; the codebook's Codes use the same CodeType as the project
    # schema, so validate them by moving them into a minimal Project in the project namespace.
    project = etree.Element(f"{{{PROJECT_NS}}}Project", nsmap={None: PROJECT_NS}, name="x")
    cb = etree.SubElement(project, f"{{{PROJECT_NS}}}CodeBook")
    cb.append(etree.fromstring(etree.tostring(root[0]).decode()
                               .replace(CODEBOOK_NS, PROJECT_NS)))
    assert schema.validate(project.getroottree()), schema.error_log


def test_read_qdc_other_namespace_form(tmp_path: Path) -> None:
    out = tmp_path / "old.qdc"
    out.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<CodeBook xmlns="urn:QDA-XML:codebook:1:0" origin="ATLAS.ti"><Codes>\n'
        '<Code guid="{11111111-1111-1111-1111-111111111111}" name="Hope" isCodable="false">\n'
        '  <Description>Parent</Description>\n'
        '  <Code guid="22222222-2222-2222-2222-222222222222" name="Peer" isCodable="true"'
        ' color="#00ff00"/>\n'
        '</Code></Codes></CodeBook>\n', encoding="utf-8")
    codes = read_qdc(out)
    assert [(c.name, c.parent, c.is_codable, c.color, c.description) for c in codes] == [
        ("Hope", None, False, None, "Parent"),
        ("Peer", "{11111111-1111-1111-1111-111111111111}", True, "#00ff00", ""),
    ]


# --------------------------------------------------------------------------- bad input


def _zip(path: Path, entries: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return path


G_USER = "aaaaaaaa-0000-4000-8000-000000000001"
G_CODE = "aaaaaaaa-0000-4000-8000-000000000002"
G_SRC = "aaaaaaaa-0000-4000-8000-000000000003"
G_SEL = "aaaaaaaa-0000-4000-8000-000000000004"
G_COD = "aaaaaaaa-0000-4000-8000-000000000005"
G_MISSING = "aaaaaaaa-0000-4000-8000-0000000000ff"
TEXT = "P01: hello\n"  # 11 characters


def _project_qde(code_ref: str = G_CODE, start: int = 0, end: int = 4,
                 path: str = f"internal://{G_SRC}.txt") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="bad">
  <Users><User guid="{G_USER}" name="coder_a"/></Users>
  <CodeBook><Codes><Code guid="{G_CODE}" name="Hope" isCodable="true"/></Codes></CodeBook>
  <Sources>
    <TextSource guid="{G_SRC}" name="ulm.FG1" plainTextPath="{path}">
      <PlainTextSelection guid="{G_SEL}" startPosition="{start}" endPosition="{end}">
        <Coding guid="{G_COD}" creatingUser="{G_USER}">
          <CodeRef targetGUID="{code_ref}"/>
        </Coding>
      </PlainTextSelection>
    </TextSource>
  </Sources>
</Project>
"""


def _line_of(xml: str, needle: str) -> int:
    return next(i for i, line in enumerate(xml.splitlines(), 1) if needle in line)


def test_good_hand_made_project_reads(tmp_path: Path) -> None:
    """The base of the bad-input tests is itself valid, so each test isolates one mistake."""
    qdpx = _zip(tmp_path / "ok.qdpx", {"project.qde": _project_qde(), f"sources/{G_SRC}.txt": TEXT})
    p = read_qdpx(qdpx)
    assert p.codings == [Coding(G_SRC, 0, 4, G_CODE, "coder_a", G_SEL)]


def test_not_a_zip(tmp_path: Path) -> None:
    bad = tmp_path / "coder_a.qdpx"
    bad.write_text("Speaker: this is a transcript, not a project\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_qdpx(bad)
    msg = str(exc.value)
    assert f"{bad} is not a .qdpx (zip) file" in msg and "export the project again" in msg
    assert exc.value.problems[0].line is None


def test_zip_without_project_file(tmp_path: Path) -> None:
    qdpx = _zip(tmp_path / "coder_a.qdpx", {f"sources/{G_SRC}.txt": TEXT})
    with pytest.raises(InputError) as exc:
        read_qdpx(qdpx)
    assert "contains no project.qde" in str(exc.value)
    assert f"sources/{G_SRC}.txt" in str(exc.value)  # says what it found instead


def test_project_not_well_formed(tmp_path: Path) -> None:
    xml = _project_qde().replace("</Coding>", "</Codingg>")
    qdpx = _zip(tmp_path / "c.qdpx", {"project.qde": xml, f"sources/{G_SRC}.txt": TEXT})
    with pytest.raises(InputError) as exc:
        read_qdpx(qdpx)
    prob = exc.value.problems[0]
    assert "not well-formed XML" in prob.message
    assert prob.line == _line_of(xml, "</Codingg>")


def test_code_ref_to_missing_code(tmp_path: Path) -> None:
    xml = _project_qde(code_ref=G_MISSING)
    qdpx = _zip(tmp_path / "c.qdpx", {"project.qde": xml, f"sources/{G_SRC}.txt": TEXT})
    with pytest.raises(InputError) as exc:
        read_qdpx(qdpx)
    prob = exc.value.problems[0]
    assert prob.path == str(qdpx)
    assert prob.line == _line_of(xml, "<CodeRef")
    assert G_MISSING in prob.message and "not in the project's CodeBook" in prob.message
    assert "ulm.FG1" in prob.message
    assert f"{qdpx}:{prob.line}:" in str(exc.value)


def test_offsets_past_end_of_text(tmp_path: Path) -> None:
    xml = _project_qde(start=5, end=99)
    qdpx = _zip(tmp_path / "c.qdpx", {"project.qde": xml, f"sources/{G_SRC}.txt": TEXT})
    with pytest.raises(InputError) as exc:
        read_qdpx(qdpx)
    prob = exc.value.problems[0]
    assert prob.line == _line_of(xml, "<PlainTextSelection")
    assert "past the end of the text" in prob.message
    assert "'ulm.FG1'" in prob.message and "start 5, end 99" in prob.message
    assert "11 characters long" in prob.message


@pytest.mark.parametrize("start,end,what", [(-1, 4, "negative offset"),
                                            (8, 4, "start after its end")])
def test_offsets_negative_or_reversed(tmp_path: Path, start: int, end: int, what: str) -> None:
    xml = _project_qde(start=start, end=end)
    qdpx = _zip(tmp_path / "c.qdpx", {"project.qde": xml, f"sources/{G_SRC}.txt": TEXT})
    with pytest.raises(InputError) as exc:
        read_qdpx(qdpx)
    prob = exc.value.problems[0]
    assert what in prob.message and f"start {start}, end {end}" in prob.message
    assert prob.line == _line_of(xml, "<PlainTextSelection")


def test_missing_source_file(tmp_path: Path) -> None:
    xml = _project_qde()
    qdpx = _zip(tmp_path / "c.qdpx", {"project.qde": xml, "sources/other.txt": TEXT})
    with pytest.raises(InputError) as exc:
        read_qdpx(qdpx)
    prob = exc.value.problems[0]
    assert prob.line == _line_of(xml, "<TextSource")
    assert f"internal://{G_SRC}.txt" in prob.message and "missing from the .qdpx" in prob.message
    assert "'ulm.FG1'" in prob.message and "1 coded selection refers to it" in prob.message


def test_problems_are_collected(tmp_path: Path) -> None:
    """Several mistakes in one file are reported together, one line each."""
    xml = _project_qde(code_ref=G_MISSING).replace(
        "</TextSource>",
        f'<PlainTextSelection guid="{G_COD[:-1]}9" startPosition="0" endPosition="50"/>'
        "</TextSource>")
    qdpx = _zip(tmp_path / "c.qdpx", {"project.qde": xml, f"sources/{G_SRC}.txt": TEXT})
    with pytest.raises(InputError) as exc:
        read_qdpx(qdpx)
    assert len(exc.value.problems) == 2
    assert len(str(exc.value).splitlines()) == 2


def test_writer_rejects_inconsistent_project(tmp_path: Path) -> None:
    p = _two_coder_project()
    p.codings.append(Coding(p.sources[0].guid, 0, 5, C_HOPE.guid, "someone_else"))
    with pytest.raises(ValueError, match="someone_else"):
        write_qdpx(tmp_path / "x.qdpx", p)
    assert not (tmp_path / "x.qdpx").exists()
    with pytest.raises(ValueError, match="not a UUID"):
        write_qdc(tmp_path / "x.qdc", [Code("hope", "Hope", None)])
    assert list(tmp_path.iterdir()) == []  # no partial or temporary files left


# --------------------------------------------------------------------------- tolerance


SRC_PREFIXED = f"""<?xml version="1.0" encoding="utf-8"?>
<qda:Project xmlns:qda="urn:QDA-XML:project:1.0" name="tolerant" origin="hand-made">
<qda:Users><qda:User guid="{G_USER}" name="Miriam"/></qda:Users>
<qda:CodeBook><qda:Codes>
<qda:Code guid="{G_CODE}" name="Hope" isCodable="true">
<qda:Code guid="{G_CODE[:-1]}9" name="Peer" isCodable="true"/>
</qda:Code>
</qda:Codes></qda:CodeBook>
<qda:Sources>
<qda:TextSource guid="{G_SRC}" name="beersheva.FG1" plainTextPath="interview.txt"
 richTextPath="internal://{G_SRC}.docx">
<qda:PlainTextSelection guid="{G_SEL}" startPosition="5" endPosition="9" creatingUser="{G_USER}">
<qda:Coding guid="{G_COD}"><qda:CodeRef targetGUID="{{{G_CODE[:-1].upper()}9}}"/></qda:Coding>
</qda:PlainTextSelection>
<qda:PlainTextSelection guid="{G_SEL[:-1]}8" startPosition="0" endPosition="3"
 creatingUser="{G_MISSING}">
<qda:Coding guid="{G_COD[:-1]}8"><qda:CodeRef targetGUID="{G_CODE}"/></qda:Coding>
</qda:PlainTextSelection>
</qda:TextSource>
</qda:Sources>
</qda:Project>
"""


@pytest.mark.parametrize("form", ["prefixed", "no-namespace", "codebook-namespace"])
def test_tolerant_reader(tmp_path: Path, form: str) -> None:
    xml = SRC_PREFIXED
    if form == "no-namespace":
        xml = xml.replace(' xmlns:qda="urn:QDA-XML:project:1.0"', "").replace("qda:", "")
    elif form == "codebook-namespace":  # an exporter that used the wrong URN for the project
        xml = xml.replace("urn:QDA-XML:project:1.0", "urn:QDA-XML:codebook:1:0")
    text = "\ufeffשלום עולם: Grüße\n"  # BOM, Hebrew, umlaut
    qdpx = _zip(tmp_path / "t.qdpx", {
        "Project.qde": xml,
        "Sources/interview.txt": text.encode("utf-8"),
        f"Sources/{G_SRC}.docx": b"PK\x03\x04 not the plain text",
    })
    p = read_qdpx(qdpx)
    assert p.name == "tolerant" and p.users == [User(G_USER, "Miriam")]
    assert [(c.name, c.parent) for c in p.codes] == [("Hope", None), ("Peer", G_CODE)]
    (src,) = p.sources
    assert src.text == text[1:] and src.path == "Sources/interview.txt"
    by_sel = {c.selection_guid: c for c in p.codings}
    peer = by_sel[G_SEL]
    assert peer.code == f"{G_CODE[:-1]}9"  # braces and upper case resolved to the code's guid
    assert peer.coder == "Miriam"  # only on the selection
    assert src.text[peer.start:peer.end] == "עולם"
    unknown = by_sel[f"{G_SEL[:-1]}8"]
    assert unknown.coder == G_MISSING  # unknown user guid kept as the name
    assert src.text[unknown.start:unknown.end] == "שלו"


def test_coding_user_wins_over_selection_user(tmp_path: Path) -> None:
    other = "aaaaaaaa-0000-4000-8000-0000000000aa"
    xml = _project_qde().replace(
        f'<PlainTextSelection guid="{G_SEL}"',
        f'<PlainTextSelection creatingUser="{other}" guid="{G_SEL}"').replace(
        "<Users>", f'<Users><User guid="{other}" name="selection_user"/>')
    qdpx = _zip(tmp_path / "c.qdpx", {"project.qde": xml, f"sources/{G_SRC}.txt": TEXT})
    (c,) = read_qdpx(qdpx).codings
    assert c.coder == "coder_a"


def test_stable_guid_is_uuid5_of_the_joined_parts() -> None:
    """stable_guid builds the GUID without a UUID object (issue 14); it must stay uuid5's, character
    for character, or every GUID in a re-exported project would change."""
    import uuid

    from qualflow.refiqda import GUID_NAMESPACE, stable_guid
    cases = [("selection", "6f1c", "0", "12", "Staff acceptance", "", "", ""), ("u", "coder_a"),
             ("c", "Ältere Menschen — שלום पुणे"), ("",), ("a b", "c"), ("a", "b c"), ("x" * 5000,)]
    for parts in cases:
        want = str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join(parts)))
        assert stable_guid(*parts) == want
        assert uuid.UUID(want).version == 5
    assert stable_guid("a b", "c") != stable_guid("a", "b c")
