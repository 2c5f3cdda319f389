"""Stage 10 adapter: CFIR heatmap and before/after figures (qualflow.cfir_figures)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.cfir_figures import write_cfir_figures
from qualflow.runner import run

p, o = snakemake.params, snakemake.output  # noqa: F821
run(lambda: write_cfir_figures(snakemake.input.ratings, snakemake.input.sites, p.waves,  # noqa: F821
                               p.domains, p.codes, p.group, o.heatmap_png, o.heatmap_svg,
                               list(o.domain_pngs), list(o.domain_svgs)),
    snakemake.log[0])  # noqa: F821
