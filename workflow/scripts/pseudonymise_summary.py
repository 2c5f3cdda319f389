"""Stage 3 adapter: combine the sites' counts, keys, logs and review lists (qualflow.pseudonymise)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821

from qualflow.pseudonymise import combine
from qualflow.runner import run

i, o = snakemake.input, snakemake.output  # noqa: F821


def main():
    for name in ("counts", "key", "replacements", "review"):
        combine(i[name], o["summary" if name == "counts" else name])


run(main, snakemake.log[0])  # noqa: F821
