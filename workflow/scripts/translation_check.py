"""Stage 4 adapter: flag one site's translations turn by turn (qualflow.translation)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.runner import run
from qualflow.translation import check_site

run(lambda: check_site(snakemake.input.local, snakemake.input.en, snakemake.input.stats,  # noqa: F821
                       snakemake.input.resolutions, snakemake.input.sites, snakemake.params.markers,  # noqa: F821
                       snakemake.params.translation, snakemake.params.english,  # noqa: F821
                       snakemake.output.flags), snakemake.log[0])  # noqa: F821
