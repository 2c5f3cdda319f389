# qualflow — from raw site transcripts to Table 2, agreement and theme figures.
# Run: `make run` (or `snakemake --profile profiles/default`). See README.md and docs/.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/parse.smk"
include: "workflow/rules/pseudonymise.smk"
include: "workflow/rules/translation.smk"
include: "workflow/rules/codes.smk"
include: "workflow/rules/agreement.smk"
include: "workflow/rules/participants.smk"
include: "workflow/rules/themes.smk"
include: "workflow/rules/gate.smk"


rule all:
    input:
        ALL_OUTPUTS,
    default_target: True
