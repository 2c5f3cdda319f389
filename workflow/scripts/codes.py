"""Stage 5 adapter: the sites' codings joined, mapped to the codebook, every output (qualflow.codes)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.codes import codes_merge
from qualflow.runner import run

run(lambda: codes_merge(snakemake.input.codebook, snakemake.input.parts,  # noqa: F821
                        snakemake.input.turns, snakemake.params.codings,  # noqa: F821
                        snakemake.params.codings_dir, snakemake.params.unmapped,  # noqa: F821
                        dict(snakemake.output.items()), sites=snakemake.input.sites,  # noqa: F821
                        roster=snakemake.input.roster,  # noqa: F821
                        assignments=(list(snakemake.input.assignments) or [None])[0],  # noqa: F821
                        site_waves=(list(snakemake.input.site_waves) or [None])[0],  # noqa: F821
                        waves=snakemake.params.waves,  # noqa: F821
                        decisions=(list(snakemake.input.decisions) or [None])[0],  # noqa: F821
                        valence=snakemake.params.valence),  # noqa: F821
    snakemake.log[0], settle=(snakemake.params.settle, snakemake.params.settled))  # noqa: F821
