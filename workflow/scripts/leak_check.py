"""Stage 9 adapter: the leak gate over every shareable output (qualflow.leaks), then the manifest.

``leak_scan_<part>`` (params.part) scans one share of the outputs and writes what it found to
restricted/leak/; ``leak_check`` merges the parts, applies the reviewed decisions and fails on a leak,
and when nothing leaked writes the manifest (qualflow.manifest) of every input and output.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.leaks import run_gate, scan_part
from qualflow.runner import run

i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
if p.part:
    run(lambda: scan_part(i.sites, i.roster, i.identifiers, list(i.files), o.hits, o.near, o.files,
                          p.affixes, p.english), snakemake.log[0])  # noqa: F821
else:
    from qualflow.manifest import write_manifest

    parts = list(zip(i.part_hits, i.part_near, i.part_files))

    def gate_then_manifest():
        run_gate(i.sites, i.roster, i.identifiers, [], o.hits, o.near, p.affixes, p.english,
                 i.decisions[0] if i.decisions else None, o.decisions, parts, list(p.gated))
        write_manifest(list(i.data), list(p.gated) + [o.hits, o.decisions], dict(snakemake.config),  # noqa: F821
                       o.manifest, o.decisions)

    run(gate_then_manifest, snakemake.log[0])  # noqa: F821
