"""Stage 8 adapter: themes by income setting and by site, PNG and SVG (qualflow.figures)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.figures import write_figures
from qualflow.runner import run

run(lambda: write_figures(snakemake.input.matrix, snakemake.output.income_png,  # noqa: F821
                          snakemake.output.income_svg, snakemake.output.site_png,  # noqa: F821
                          snakemake.output.site_svg), snakemake.log[0])  # noqa: F821
