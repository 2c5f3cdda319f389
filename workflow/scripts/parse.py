"""Stage 2 adapter: parse one site's transcripts into turn tables (qualflow.transcripts)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.runner import run
from qualflow.transcripts import parse_site

run(lambda: parse_site(snakemake.params.site, snakemake.input.sources,  # noqa: F821
                       snakemake.output.turns, snakemake.output.index), snakemake.log[0])  # noqa: F821
