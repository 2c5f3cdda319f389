"""Stage 8 adapter: theme matrix, transcripts table, summary and quote pages (qualflow.themes)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.runner import run
from qualflow.themes import write_themes

i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
run(lambda: write_themes(i.codings, i.themes, i.sites, i.roster, list(p.turns), p.quote_min_chars, o.matrix,
                         Path(o.quotes).parent, p.design, coverage=i.coverage,
                         assignments=i.assignments[0] if i.assignments else None, count=p.count_mode,
                         transcripts_out=o.transcripts, summary_out=o.summary, quote_pages=list(o.pages)),
    snakemake.log[0], settle=(snakemake.params.settle, snakemake.params.settled))  # noqa: F821
