"""Stage 5 adapter, one site: its coders' codings checked and mapped to turn units (qualflow.codes)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.codes import codes_site
from qualflow.runner import run

run(lambda: codes_site(snakemake.params.site, snakemake.input.codings,  # noqa: F821
                       snakemake.input.transcripts_tsv, snakemake.input.transcripts_txt,  # noqa: F821
                       dict(snakemake.output.items()),  # noqa: F821
                       decisions=(list(snakemake.input.decisions) or [None])[0]),  # noqa: F821
    snakemake.log[0])  # noqa: F821
