# Stage 1 (validate): every input is checked when the workflow is loaded, before any job runs.
# A bad input prints `path:line: what is wrong` per problem and exits 1 with nothing written.
# A study is a folder (config/, data/, results/, restricted/): `snakemake --directory <study>
# --configfile <study>/config/config.yaml` runs in it, so every path here is relative to the study.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from qualflow.design import design_params
from qualflow.validate import (config_file_in_study, load_study_or_exit, write_site_inputs,
                               write_site_speakers)

# The config file in force (the last --configfile, else the Snakefile's), relative to the study.
CONFIG_FILE = config_file_in_study(
    list(workflow.overwrite_configfiles or ()) or list(workflow.configfiles)
)
RESTRICTED = config.get("restricted_out", "restricted")
# A job (a cluster job, or Snakemake's own subprocess) re-reads this Snakefile: the main process has
# validated everything before submitting it, so a job does not check again (docs/DESIGN.md, stage 1).
# The check's result is cached by the content of every input and qualflow's code
# (.snakemake/qualflow/study.pickle, qualflow.study_cache; it holds the raw transcripts, so it is
# private to the study folder like restricted/): an unchanged study is not checked again, a changed
# transcript is the only one parsed again, and any problem is found by a full check.
STUDY = load_study_or_exit(config, config_path=CONFIG_FILE, full=workflow.is_main_process,
                           cache_file=".snakemake/qualflow/study.pickle")
SITES = STUDY.site_ids
# The study's waves, roles and comparison groups (config), with each site's group values and each
# transcript's wave, passed to the stages after validation as params (design.design_params).
DESIGN = design_params(
    STUDY.design,
    STUDY.sites,
    STUDY.site_waves,
    {f"{t.site}.{t.transcript}": str(t.meta.get("wave") or "") for t in STUDY.transcripts.values()},
)

EN = config.get("english", "en")
# Per-site slices of sites.tsv, roster and identifiers (restricted/inputs/<site>/): a site's jobs
# depend on its own rows only, so adding a site does not re-run the others.
SITE_INPUTS = write_site_inputs(config, SITES, f"{RESTRICTED}/inputs")
# ... and each site's transcripts and speaker labels (restricted/inputs/<site>/speakers.tsv), from the
# load's parse: Table 2 reads these, so editing a transcript's words does not re-run it.
for _site, _path in write_site_speakers(STUDY, f"{RESTRICTED}/inputs").items():
    SITE_INPUTS[_site]["speakers"] = _path


def site_files(site):
    """The site's transcript files as (transcript, lang) pairs, in a stable order."""
    return sorted((s.transcript, s.lang) for s in STUDY.files(site))


def parsed_index(site):
    """What was parsed from which exact file (sha256): under restricted/, as the sources name people."""
    return f"{RESTRICTED}/parsed/{site}/transcripts.tsv"


def pseudonymised(site, ext="tsv", lang=None):
    """Shareable transcripts of a site (ext tsv or txt); lang=None for every language."""
    return [
        f"results/pseudonymised/{site}/{t}.{l}.{ext}"
        for t, l in site_files(site)
        if lang is None or l == lang
    ]


def translation_pairs(site):
    """Transcripts of a site that have a local-language file besides the English one."""
    langs = {}
    for t, l in site_files(site):
        langs.setdefault(t, []).append(l)
    return [(t, l) for t, ls in sorted(langs.items()) for l in ls if l != EN]


def pair_tsvs(sites):
    """(local, English) pseudonymised turn tables of every translation pair of ``sites``, aligned."""
    pairs = [(s, t, l) for s in sites for t, l in translation_pairs(s)]
    return (
        [f"results/pseudonymised/{s}/{t}.{l}.tsv" for s, t, l in pairs],
        [f"results/pseudonymised/{s}/{t}.{EN}.tsv" for s, t, l in pairs],
    )


TRANSLATION_SITES = [s for s in SITES if translation_pairs(s)]
# The study's languages: the candidates language detection chooses among (a param, so a new site
# re-runs the other sites' checks only when it brings a new language).
STUDY_LANGUAGES = sorted({l for v in STUDY.sites["languages"] for l in str(v).split(",") if l} | {EN})


def site_markers(site):
    """The markers of the site's languages and English only, so editing another language's markers
    does not re-run this site's check."""
    langs = sorted({l for t, l in translation_pairs(site)} | {EN})
    return {l: config["markers"][l] for l in langs if l in config["markers"]}


def translation_site_files(name):
    return [f"results/translation/{s}/{name}" for s in TRANSLATION_SITES]


def translation_flag_files():
    return [f"results/translation/{s}/{t}.flags.tsv" for s in TRANSLATION_SITES for t, l in translation_pairs(s)]



# The leak gate's parts (rules/gate.smk), here so that loading the Snakefile imports no scanner.
def gate_parts(rule_outputs: dict[str, list[str]], sites: list[str]) -> dict[str, list[str]]:
    """The gate's parts: ``sites/<site>`` holds the results/ outputs of that site's own rules (named
    ``<stage>_<site>``), ``rules/<rule>`` those of one study-wide rule; each part is scanned by its own
    job as soon as its files exist, and a one-site edit re-scans that site's share only."""
    parts: dict[str, list[str]] = {}
    for rule, outputs in rule_outputs.items():
        outs = [f for f in outputs if f.startswith("results/")]
        if not outs:
            continue
        own = max((s for s in sites if rule.endswith(f"_{s}")), key=len, default=None)
        parts.setdefault(f"sites/{own}" if own is not None else f"rules/{rule}", []).extend(outs)
    return {p: sorted(set(fs)) for p, fs in sorted(parts.items())}


def site_coding_files(site):
    """The coder files codes_<site> reads (qualflow.codes.coding_file_site; CODING_FILES: codes.smk)."""
    from qualflow.codes import coding_file_site

    return [f for f in CODING_FILES if coding_file_site(f, SITES) in (site, None)]


def codes_parts(name):
    """The codes stage's per-site parts, restricted/codes/<site>/<name>, every site."""
    return [f"{RESTRICTED}/codes/{s}/{name}" for s in SITES]


# Settled copies (docs/DESIGN.md, "What re-runs"). Snakemake decides before a run which jobs run, and a
# job downstream of one that runs always runs, even when that job rewrites the same bytes (a one-word
# edit re-writes the theme matrix unchanged, and the figures were redrawn). So the study-wide jobs whose
# outputs an edit rarely changes are checkpoints (codes, themes, agreement, translation_summary): each
# copies the outputs its readers read to restricted/settled/<path> where the bytes changed
# (qualflow.runner.settle_copies), and a reader takes them through `after_checkpoints`, which Snakemake
# evaluates again when the checkpoint finishes: a reader whose copies are older than its outputs is
# skipped, with its leak scan. A dry run (-n) cannot know the bytes yet and lists the readers too.
SETTLED = f"{RESTRICTED}/settled"
#: results/ files that have a settled copy: each checkpoint's rule file adds its own.
SETTLED_FILES = set()


def settled(path):
    return f"{SETTLED}/{path}"


def settling(files):
    """A checkpoint's params for settling ``files`` (qualflow.runner.run's ``settle``), which
    after_checkpoints then reads as their copies."""
    SETTLED_FILES.update(files)
    return dict(settle=list(files), settled=SETTLED)


def after_checkpoints(names, files, copies=True):
    """An input function: ``files`` (a path or a list) once the checkpoints ``names`` have finished,
    each file that has a settled copy (SETTLED_FILES) read as that copy (``copies=False``: the files
    themselves, for a job that must only be looked at again). Calling ``.get()`` on every checkpoint
    upstream makes Snakemake evaluate the job again after each; until one has finished, the job waits
    for it. A copy not (yet) written, e.g. restricted/ deleted, falls back to the file."""
    single = isinstance(files, str)
    files = [files] if single else [str(f) for f in files]

    def inputs(wildcards):
        for name in names:
            getattr(checkpoints, name).get()
        out = [settled(f) if copies and f in SETTLED_FILES and Path(settled(f)).exists() else f
               for f in files]
        return out[0] if single else out

    return inputs


#: Rules (and so their leak scans) that read settled copies: rule name -> the checkpoints upstream.
AFTER_CHECKPOINTS = {}


# Job priorities (Snakemake's `priority:`; the greedy scheduler starts the ready job of highest
# priority first, and among equals the one with the largest inputs). The longest chain of a run is
# pseudonymise_<site> -> codes_<site> -> codes -> themes, agreement, framework_matrix -> their leak
# scans -> leak_check. The codes chain and every study-wide job (and its scan) go first: they are few,
# and without a priority the scheduler ran them last (theme_figures after every translation check).
# The other per-site jobs keep Snakemake's order, largest inputs first, which also empties the queue of
# the jobs whose inputs Snakemake stats on every scheduling pass (a site's leak scan declares a site's
# worth of files). Measured at 240 synthetic transcripts, two runs each: Snakemake's own CPU 25-29 s
# against 42-45 s without priorities; ordering every per-site stage too made it worse (issue 14).
# Those passes were mostly the job-rate limiter's piled-up timers, now off for a local run
# (qualflow.runner.local_scheduling): re-measure before ordering more stages.
# The translation chain (translation_check_<site> -> translation_summary -> its scan) goes before them:
# it is the longest chain of a one-word edit (issue 12 item 6: a site's check, the study's summary and
# its scan, then leak_check), and a cold run is busy on both cores whatever the order.
PRIORITY = {"codes": 10, "study": 10, "translation": 20}   # every other job: 0, Snakemake's default



def manifest_inputs():
    """Every user-supplied input the run read: config, study tables, transcripts, codings."""
    files = [CONFIG_FILE, config["sites"], config["roster"], config["identifiers"]]
    files += [config.get("codebook", "config/codebook.yaml")]
    files += [config["site_waves"]] if config.get("site_waves") else []
    files += [s.path for s in STUDY.sources]
    files += CODING_FILES  # the coders' files the codes rule reads (workflow/rules/codes.smk)
    files += [ASSIGNMENTS] if ASSIGNMENTS else []
    files += [DECISIONS] if DECISIONS else []
    res = config.get("translation_resolutions", "")
    files += [res] if res and Path(res).exists() else []
    files += [config["gate_decisions"]] if config.get("gate_decisions") else []  # reviewed gate decisions
    cfir = config.get("cfir") or {}  # the CFIR consensus and the raters' files (workflow/rules/cfir.smk)
    files += [cfir["consensus"]] if cfir.get("consensus") else []
    files += sorted(str(p) for p in Path(cfir["raters_dir"]).glob("*.tsv")) if cfir.get("raters_dir") else []
    return [f for f in dict.fromkeys(files) if Path(f).exists()]


# A job's user-input problems are printed again as the run's last lines, alone (Snakemake's own
# report of the failed job comes first and is long); most are caught at load, above. The Snakefile's
# `onerror` calls this after marking results/ invalid.
import time as _time

from qualflow.runner import job_input_errors, local_scheduling

_RUN_START = _time.time()


def print_job_input_errors():
    problems = job_input_errors("logs", _RUN_START)
    if problems:
        print("", file=sys.stderr)
        print(f"qualflow: {len(problems)} input problem(s) stopped the run:", file=sys.stderr)
        for p in problems:
            print(p, file=sys.stderr)
