"""qualflow: the library behind the qualflow Snakemake workflow."""
