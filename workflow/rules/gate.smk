# Stage 9 (gate and manifest): runs last. The leak gate scans every shareable output for every
# roster and identifier name and fails the workflow on a hit; the manifest records hashes and versions.
# Every output of every rule that lands under results/ (not only the final ones in ALL_OUTPUTS).
GATED = sorted(
    {str(f) for r in workflow.rules for f in r.output if str(f).startswith("results/")}
)


# Reviewed decisions on cross-site hits (optional; restricted): an input only when the file exists.
GATE_DECISIONS = [f for f in [config.get("gate_decisions", "")] if f and Path(f).exists()]


rule leak_check:
    input:
        sites=config["sites"],
        roster=config["roster"],
        identifiers=config["identifiers"],
        decisions=GATE_DECISIONS,
        files=GATED,
    output:
        hits="results/leak_check.tsv",
        decisions="results/leak_decisions.tsv",
        near=f"{RESTRICTED}/leak_near_misses.tsv",
    params:
        affixes=config.get("affixes", {}),
        english=EN,
    log:
        "logs/leak_check.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/leak_check.py"


rule manifest:
    input:
        data=manifest_inputs(),
        outputs=GATED + ["results/leak_check.tsv", "results/leak_decisions.tsv"],
        decisions="results/leak_decisions.tsv",
    output:
        "results/manifest.tsv",
    log:
        "logs/manifest.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/manifest.py"


ALL_OUTPUTS += rules.leak_check.output
ALL_OUTPUTS += rules.manifest.output
