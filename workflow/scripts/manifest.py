"""Stage 9 adapter: hashes of every input and output, versions, config hash (qualflow.manifest)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.manifest import write_manifest
from qualflow.runner import run

run(lambda: write_manifest(list(snakemake.input.data), list(snakemake.input.outputs),  # noqa: F821
                           dict(snakemake.config), snakemake.output[0],  # noqa: F821
                           snakemake.input.decisions), snakemake.log[0])  # noqa: F821
