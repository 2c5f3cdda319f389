# Stage 9 (gate and manifest): the leak gate scans every shareable output for every roster and
# identifier name and fails the workflow on a hit; the manifest records hashes and versions.
# Every output of every rule that lands under results/.
GATED = sorted(
    {str(f) for r in workflow.rules for f in r.output if str(f).startswith("results/")}
)


# The scan runs in parts, each as soon as its files exist, so it overlaps the rest of the run and
# both cores scan: one part per site (the results/ outputs of that site's own rules: parse_<site>,
# pseudonymise_<site>, translation_check_<site>, ...; a one-site edit re-scans only that share) and
# one per study-wide rule (its results/ outputs). Every part looks for every site's names.
# leak_check only merges the parts' small tables (restricted/leak/), applies the reviewed decisions
# and fails on a hit: the same tables one scan of every file gives (docs/DESIGN.md, stage 9).
GATE_PARTS = gate_parts({r.name: [str(f) for f in r.output] for r in workflow.rules}, SITES)


# Reviewed decisions on cross-site hits (optional; restricted): an input only when the file exists.
GATE_DECISIONS = [f for f in [config.get("gate_decisions", "")] if f and Path(f).exists()]


# A part always scans the files themselves. The part of a rule that reads settled copies waits for the
# checkpoints its rule reads (common.smk, "Settled copies"), so that Snakemake looks at it again when its
# rule is skipped, and skips it too.
for _part, _files in GATE_PARTS.items():
    _rule = _part.split("/", 1)[1]
    _after = AFTER_CHECKPOINTS.get(_rule, [])
    _PART_PRIORITY = (PRIORITY["translation"] if _rule == "translation_summary"
                      else PRIORITY["study"] if _part.startswith("rules/") else 0)

    rule:
        name:
            f"leak_scan_{_part.split('/', 1)[1]}"
        input:
            sites=config["sites"],
            roster=config["roster"],
            identifiers=config["identifiers"],
            files=after_checkpoints(_after, _files, copies=False) if _after else _files,
        output:
            hits=f"{RESTRICTED}/leak/{_part}/hits.tsv",
            near=f"{RESTRICTED}/leak/{_part}/near_misses.tsv",
            files=f"{RESTRICTED}/leak/{_part}/files.tsv",
        params:
            part=True,
            affixes=config.get("affixes", {}),
            english=EN,
        # a study-wide rule's scan as soon as it can (it waits with a study's worth of files); a
        # site's scan in Snakemake's order (largest inputs first)
        priority: _PART_PRIORITY
        log:
            f"logs/leak_check/{_part}.log",
        conda:
            "../envs/qualflow.yaml"
        script:
            "../scripts/leak_check.py"


# The gate's last step, and the run's record: leak_check merges the parts and fails on a hit; when
# nothing leaked, the same job writes results/manifest.tsv (qualflow.manifest: the hash of every input
# and output), so a manifest exists only for results that passed the gate. (changed: issue 12 item 6
# — the manifest was a job of its own after this one, one more job at the end of every run.)
rule leak_check:
    input:
        sites=config["sites"],
        roster=config["roster"],
        identifiers=config["identifiers"],
        decisions=GATE_DECISIONS,
        part_hits=[f"{RESTRICTED}/leak/{p}/hits.tsv" for p in GATE_PARTS],
        part_near=[f"{RESTRICTED}/leak/{p}/near_misses.tsv" for p in GATE_PARTS],
        part_files=[f"{RESTRICTED}/leak/{p}/files.tsv" for p in GATE_PARTS],
        data=manifest_inputs(),
    output:
        hits="results/leak_check.tsv",
        decisions="results/leak_decisions.tsv",
        near=f"{RESTRICTED}/leak_near_misses.tsv",
        manifest="results/manifest.tsv",
    params:
        part=False,
        gated=GATED,
        affixes=config.get("affixes", {}),
        english=EN,
    priority: PRIORITY["study"]
    log:
        "logs/leak_check.log",
    conda:
        "../envs/qualflow.yaml"
    script:
        "../scripts/leak_check.py"
