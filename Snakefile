# qualflow — from raw site transcripts to Table 2, agreement and theme figures.
# Run: `make run` (or `snakemake --profile profiles/default`). See README.md and docs/.
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


# results/ is one whole run, or marked invalid (results/STALE.md; qualflow.state): the marker is
# written, and the manifest and report removed, as soon as a run starts executing jobs, and removed
# only when a run ends with the manifest rebuilt. A report built while it is there says so.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from qualflow import state as run_state

# The front page: the run's own (results/report/front.rst: key numbers, Table 2, links to every table;
# rule report_pages) once a run has written it, the static description before that.
_FRONT = Path("results/report/front.rst")


REPORT_FRONT = (
    "workflow/report/workflow_stale.rst" if run_state.is_stale()
    else str(_FRONT.resolve()) if _FRONT.exists() else "workflow/report/workflow.rst"
)


report: REPORT_FRONT


onstart:
    run_state.run_started()
    local_scheduling(workflow)  # qualflow.runner: no job-rate limiter on a local run


onsuccess:
    run_state.run_succeeded()


onerror:
    run_state.run_failed(log)
    print_job_input_errors()  # workflow/rules/common.smk: the failed jobs' input problems, last


include: "workflow/rules/common.smk"
include: "workflow/rules/pseudonymise.smk"
include: "workflow/rules/translation.smk"
include: "workflow/rules/codes.smk"
include: "workflow/rules/agreement.smk"
include: "workflow/rules/participants.smk"
include: "workflow/rules/themes.smk"
include: "workflow/rules/framework.smk"
include: "workflow/rules/cfir.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/gate.smk"


# The run's targets: the gate's result and manifest, which need every results/ file (each is scanned
# by a part, and leak_check reads every part), one results/ file of every rule (so that a dry run lists
# the jobs that a checkpoint's readers would otherwise only add once it has finished), and every file
# outside results/ (restricted/, the jobs' own records). Not every results/ file (changed: issue 12
# item 6): this job is looked at again whenever a checkpoint finishes, and resolving the study's 10,000
# outputs cost ~2 s each time at 1,000 transcripts.
ALL_TARGETS = list(rules.leak_check.output) + sorted(
    {str(f) for r in workflow.rules for f in r.output if not str(f).startswith("results/")}
    | {next(str(f) for f in r.output if str(f).startswith("results/"))
       for r in workflow.rules if any(str(f).startswith("results/") for f in r.output)}
)


rule all:
    input:
        ALL_TARGETS,
    default_target: True
