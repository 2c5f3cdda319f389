"""The run's manifest: sha256 of every input and output, package versions and the config hash.

With it an auditor can tell whether the results/ in front of them came from these exact inputs
and this software, without re-running anything.
"""
from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path

import pandas as pd

from .tables import sha256_file, write_tsv

PACKAGES = ["qualflow", "snakemake", "pandas", "numpy", "pyyaml", "jsonschema", "krippendorff", "matplotlib",
            "regex", "pyahocorasick", "rapidfuzz", "wordfreq", "lingua-language-detector", "python-docx", "webvtt-py",
            "lxml"]


def config_hash(config: dict) -> str:
    """Hash of the effective config (after schema defaults), independent of key order."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def build_manifest(inputs: list[str], outputs: list[str], config: dict,
                   decisions: str | None = None) -> pd.DataFrame:
    """One row per file (section input|output), reviewed gate decision, package, Python and the config."""
    rows = []
    for section, files in (("input", inputs), ("output", outputs)):
        for f in sorted(set(map(str, files))):
            rows.append({"section": section, "name": f, "sha256": sha256_file(f), "bytes": Path(f).stat().st_size,
                         "version": ""})
    if decisions and Path(decisions).exists():
        # Each reviewed decision the leak gate honoured: key id and scope (never the reason text, which
        # may quote the word), with the number of hits it waived.
        for d in pd.read_csv(decisions, sep="\t", dtype=str, keep_default_na=False).itertuples():
            rows.append({"section": "decision", "name": f"{d.key} {d.site}/{d.language}", "sha256": "",
                         "bytes": d.waived, "version": d.decision})
    for pkg in PACKAGES:
        try:
            version = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            version = "not installed"
        rows.append({"section": "package", "name": pkg, "sha256": "", "bytes": "", "version": version})
    rows.append({"section": "package", "name": "python", "sha256": "", "bytes": "",
                 "version": platform.python_version()})
    rows.append({"section": "config", "name": "config", "sha256": config_hash(config), "bytes": "", "version": ""})
    return pd.DataFrame(rows, columns=["section", "name", "sha256", "bytes", "version"])


def write_manifest(inputs: list[str], outputs: list[str], config: dict, out: str,
                   decisions: str | None = None) -> None:
    write_tsv(build_manifest(inputs, [o for o in outputs if str(o) != str(out)], config, decisions), out)
