# Stage 5 (codes): every coder's TSVs and REFI-QDA exports mapped to the codebook (synonyms) and to
# speaker-turn units; the merged codings, the framework with provenance, and the coding packet.
# (changed: issue 14) Per site first: `codes_<site>` reads the site's transcripts and the coder files
# about them, checks every span and maps it to turns (restricted/codes/<site>/: the raw codings hold
# coder memos); then the study-wide `codes` job joins the parts, maps labels to codes and writes
# every output, byte-identical to one study-wide job (qualflow.codes).
# The coders' files are globbed when the workflow is loaded: adding a coder folder or a file re-runs
# the jobs that read it (the folder itself is checked by the merge: an empty coder folder is an error).
import glob as _glob

CODINGS_DIR = config.get("codings_dir", "data/codings")
CODING_FILES = sorted(
    _glob.glob(f"{CODINGS_DIR}/*/*.tsv") + _glob.glob(f"{CODINGS_DIR}/*/*.qdpx")
)
# The declared coder x transcript table (optional: without it, the documented default rule counts).
ASSIGNMENTS = config.get("coding_assignments", "data/coding_assignments.tsv")
ASSIGNMENTS = ASSIGNMENTS if ASSIGNMENTS and Path(ASSIGNMENTS).exists() else ""
# A person's accept/reject of codings held for review on a corrected transcript (optional).
DECISIONS = config.get("reanchor_decisions", "data/reanchor_decisions.tsv")
DECISIONS = DECISIONS if DECISIONS and Path(DECISIONS).exists() else ""
# site_coding_files(site) and codes_parts(name) are in common.smk.


for _site in SITES:

    rule:
        name:
            f"codes_{_site}"
        input:
            codings=site_coding_files(_site),
            decisions=[DECISIONS] if DECISIONS else [],
            transcripts_tsv=pseudonymised(_site, "tsv", EN),
            transcripts_txt=pseudonymised(_site, "txt", EN),
        output:
            part=f"{RESTRICTED}/codes/{_site}/codings.json",
            turns=f"{RESTRICTED}/codes/{_site}/turns.tsv",
        params:
            site=_site,
        priority: PRIORITY["codes"]
        log:
            f"logs/codes/{_site}.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/codes_site.py"


# A checkpoint (common.smk, "Settled copies"): an edit of the words re-runs it (project.qdpx and the
# coding packet hold the text) but leaves its tables as they were, and the report pages read those.
# The stages that quote the text (themes, agreement_ledger, framework_matrix) read the turn tables
# themselves (params) and decide on turns_read.tsv instead: every turn's speaker, kind, role and word
# count, and the text's hash only for the turns a coding points at (qualflow.codes_tables.turns_read).
TURNS_READ = f"{RESTRICTED}/codes/turns_read.tsv"
# ... and the agreement tables on units_read.tsv: which turns are units (no words, no text hashes).
UNITS_READ = f"{RESTRICTED}/codes/units_read.tsv"
CODES_TABLES = [f"results/codes/{n}" for n in ("codings.tsv", "codebook.tsv", "themes.tsv", "coverage.tsv")]


checkpoint codes:
    input:
        codebook=config.get("codebook", "config/codebook.yaml"),
        sites=config["sites"],
        # participant cases of project.qdpx: pseudonym, role, gender, label (never a name)
        roster=config["roster"],
        assignments=[ASSIGNMENTS] if ASSIGNMENTS else [],
        decisions=[DECISIONS] if DECISIONS else [],
        # per-wave groups (e.g. income group at each wave) as transcript variables in project.qdpx
        site_waves=[config["site_waves"]] if config.get("site_waves") else [],
        # the sites' parts (codes_<site>): their codings and turns
        parts=codes_parts("codings.json"),
        turns=codes_parts("turns.tsv"),
    output:
        codings=report(
            "results/codes/codings.tsv", caption="../report/codes_codings.rst", category="Codes"
        ),
        codebook=report(
            "results/codes/codebook.tsv", caption="../report/codes_codebook.rst", category="Codes"
        ),
        themes=report(
            "results/codes/themes.tsv", caption="../report/codes_themes.rst", category="Codes"
        ),
        coverage=report(
            "results/codes/coverage.tsv", caption="../report/codes_coverage.rst", category="Codes"
        ),
        unmapped=report(
            "results/codes/unmapped_labels.tsv",
            caption="../report/codes_unmapped.rst",
            category="Codes",
        ),
        summary="results/codes/summary.md",
        qdc="results/codes/codebook.qdc",
        packet="results/codes/coding_packet.qdpx",
        project="results/codes/project.qdpx",
        turns="results/codes/turns.tsv",
        turns_read=TURNS_READ,
        units_read=UNITS_READ,
        reanchor=report(
            "results/codes/reanchor_review.tsv",
            caption="../report/codes_reanchor.rst",
            category="Codes",
        ),
    params:
        # The coders' files and the English transcripts' text (the coding packet and project.qdpx
        # hold it), named here, not as inputs: each is an input of a codes_<site> job, whose part is
        # an input here, so a change re-runs this job all the same (docs/DESIGN.md, "What a job costs").
        codings=CODING_FILES,
        # the folder itself, to report a coder folder with no files (no input file names it)
        codings_dir=lambda wildcards: CODINGS_DIR,
        unmapped=config.get("codes", {}).get("unmapped", "fail"),
        waves=DESIGN["transcript_waves"],
        # how coders' tools record a coding's valence besides the TSV column (qualflow.valence)
        valence=config.get("valence", {}),
        **settling(CODES_TABLES + [TURNS_READ, UNITS_READ]),
    priority: PRIORITY["codes"]
    log:
        "logs/codes.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/codes.py"
