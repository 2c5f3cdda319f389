# Two commands on a fresh machine: `make run` (the whole demo analysis) and `make test`.
# Both set up .venv from pyproject.toml first, and reuse it while pyproject.toml is unchanged.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run report test lint benchmark benchmark-incremental benchmark-cfir benchmark-scale slurm-up clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# A study is a folder with config/, data/ (and, after the run, results/, restricted/, logs/):
# `make run` runs the first demo (this folder); `make run STUDY=studies/key-informants` the second.
STUDY ?= .
# profiles/default is the workflow's own profile: named with --workflow-profile (not --profile, which
# would load it a second time as the workflow profile), so it applies to every study folder.
SNAKEMAKE := $(abspath $(BIN))/snakemake --workflow-profile $(abspath profiles/default) \
	--directory $(STUDY) --configfile $(STUDY)/config/config.yaml

run: setup
	$(SNAKEMAKE)
	$(SNAKEMAKE) --report results/report.html
	cd $(STUDY) && $(abspath $(BIN))/python -m qualflow.leaks results

test: setup browser
	$(BIN)/pytest

lint: setup
	$(BIN)/snakemake --lint

benchmark: setup
	$(BIN)/python benchmarks/bench_names.py
	$(BIN)/python benchmarks/bench_agreement.py

# A one-word edit at one site against a cold run, both timed in the same run (about a minute).
benchmark-incremental: setup
	$(BIN)/python benchmarks/bench_incremental.py

# The CFIR rating, change and framework-matrix stages on 100 sites x 2 waves x 40 constructs.
benchmark-cfir: setup
	$(BIN)/python benchmarks/bench_cfir.py

# Cold whole-workflow runs on synthetic studies of 60, 240 and 1,000 transcripts (about 10-15 min on
# 2 cores): wall, jobs, time to first job, orchestration, per-stage wall and peak RSS, growth exponents.
benchmark-scale: setup
	$(BIN)/python benchmarks/bench_scale.py

# A single-node SLURM cluster on this machine (root; Debian's slurm-wlm + munge), as the tests use it.
slurm-up:
	.ci/slurm-up

# The translation review page is tested in headless Chromium (Debian's package), with a Devanagari
# font so Marathi text renders (fontconfig finds no Marathi font on a bare machine).
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=mr family 2>/dev/null | grep -q .; } || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "installing Debian's chromium and a Devanagari font for the review-page browser test"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-lohit-deva >/dev/null; }

clean:
	cd $(STUDY) && rm -rf results/* restricted .snakemake logs
	cd $(STUDY) && git checkout -- results/README.md 2>/dev/null || true
