"""Stage 8 adapter: themes by each comparison group and by site, PNG and SVG (qualflow.figures)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.figures import write_figures
from qualflow.runner import run

o = snakemake.output  # noqa: F821
run(lambda: write_figures(snakemake.input.matrix, list(o.group_pngs), list(o.group_svgs),  # noqa: F821
                          o.site_png, o.site_svg, snakemake.params.design), snakemake.log[0])  # noqa: F821
