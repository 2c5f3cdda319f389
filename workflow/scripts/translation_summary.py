"""Stage 4 adapter: final flags, summary tables and the review pages (qualflow.translation_review)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.runner import run
from qualflow.translation_review import translation_summary

i, p, o = snakemake.input, snakemake.params, snakemake.output  # noqa: F821
run(lambda: translation_summary(p.flags, p.lengths, i.pairs, i.resolutions, p.translation, p.english,
                                i.sites, p.markers, p.title, p.pairs_per_page,
                                o.stats, o.flags, o.summary, o.table, o.review, list(o.pages)),
    snakemake.log[0], settle=(snakemake.params.settle, snakemake.params.settled))  # noqa: F821
