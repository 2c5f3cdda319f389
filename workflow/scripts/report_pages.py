"""Report adapter: the front page and every table as HTML for the Snakemake report (qualflow.report)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.report import write_report_pages
from qualflow.runner import run

i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
run(lambda: write_report_pages(i.table2, i.by_code, i.by_theme, i.agreement, list(i.quote_pages), i.codebook, i.themes,
                               i.coverage, i.flags[0] if i.flags else None, i.sites, p.n_transcripts,
                               p.study, o.front, o.agreement, o.quotes, o.codebook, p.pages,
                               i.transcripts),
    snakemake.log[0])  # noqa: F821
