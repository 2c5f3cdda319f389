"""Stages 2-3 adapter: parse and pseudonymise one site's transcripts (qualflow.pseudonymise)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.pseudonymise import pseudonymise_site
from qualflow.runner import run

i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
run(lambda: pseudonymise_site(p.site, i.sites, i.roster, i.identifiers, list(i.sources), o.index, o.tsv, o.txt,
                              o.counts, o.key, o.replacements, o.review, p.english, p.affixes), snakemake.log[0])  # noqa: F821
