"""The load-time validation, cached: an unchanged study loads without re-parsing every transcript.

Every Snakemake process reads the Snakefile, and the Snakefile validates the whole study (stage 1,
``qualflow.validate``): at 1,000 transcripts that is most of the time to the first job, paid again by
every ``snakemake -n`` and every cluster job. The result is cached in one file beside Snakemake's
own records (``.snakemake/qualflow/study.pickle``, readable by its owner only: it holds the raw
transcripts, real names included, and is never shared, like ``restricted/``):

* **whole study** — the checked :class:`~qualflow.validate.Study`, keyed by the content of every input
  the load reads (the config file and the merged config, the tables, every file under the raw and
  codings folders), the load's arguments and qualflow's own code and schemas. Any change misses.
* **per transcript** — on a miss, a transcript (or the codebook) whose file content is unchanged is
  taken from the cache instead of being parsed again; every check across files (speakers, waves,
  codings) runs again.

Only a load without problems is cached, so a bad input is always reported by a full check: the same
lines, the same exit. A file's content hash is re-used while its size and modification time (ns) are
unchanged, as git's index does, except for files modified within the last seconds (a later write in
the same clock tick could keep both).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Callable

#: Bump when the cache file's layout changes.
LAYOUT = 1
#: A file modified this recently is hashed again on the next load (same-tick writes).
RACY_NS = 2_000_000_000
_CODE_DIRS = (Path(__file__).resolve().parent, Path(__file__).resolve().parents[1] / "schemas")


def code_version() -> str:
    """qualflow's own code and schemas, Python and the installed packages (their dist-info names carry
    the versions): an upgrade, or a local edit, invalidates every cached load."""
    import pandas as pd

    h = hashlib.blake2b(digest_size=16)
    h.update(f"{LAYOUT}\0{sys.version}".encode())
    site = Path(pd.__file__).resolve().parents[1]   # the environment's site-packages
    h.update("\0".join(sorted(n for n in os.listdir(site) if n.endswith(".dist-info"))).encode())
    for d in _CODE_DIRS:
        for p in sorted(d.glob("*")):
            if p.suffix in (".py", ".yaml") and p.is_file():
                h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def input_files(config: dict, base: Path, config_path: str | Path | None) -> tuple[list[str], list[str]]:
    """What the load reads, named as the load names them (joined to ``base``): the files whose content
    it reads, and the names it only lists (entries of the raw and codings folders that are folders,
    hidden, or outside ``<folder>/<site or coder>/``, which the load looks at by name only, so that an
    audio file in a subfolder is never read). Both sorted."""
    at = (lambda x: Path(x)) if base == Path(".") else (lambda x: base / x)  # as load_study does
    files = [str(at(config_path))] if config_path else []
    files += [str(at(config[k])) for k in ("sites", "roster", "identifiers", "codebook", "site_waves")
              if config.get(k)]
    assignments = config.get("coding_assignments", "data/coding_assignments.tsv")   # its primary column
    if assignments and at(assignments).is_file():
        files.append(str(at(assignments)))
    names: list[str] = []
    for key in ("raw_dir", "codings_dir"):
        root = at(config[key]) if config.get(key) else None
        if root is None or not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            names.append(str(entry) + ("/" if entry.is_dir() else ""))
            if entry.is_dir() and not entry.name.startswith("."):
                for f in sorted(entry.iterdir()):
                    if f.is_file() and not f.name.startswith("."):
                        files.append(str(f))
                    else:
                        names.append(str(f) + ("/" if f.is_dir() else ""))
    return sorted(dict.fromkeys(files)), sorted(names)


class _Hashes:
    """Content hashes of files, re-used while (size, mtime_ns) are unchanged."""

    def __init__(self, known: dict[str, tuple[int, int, str]]):
        self.known, self.now = known, time.time_ns()
        self.seen: dict[str, tuple[int, int, str]] = {}
        self.digests: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        if path not in self.digests:
            self.digests[path] = self._digest(path)
        return self.digests[path]

    def _digest(self, path: str) -> str:
        full = Path(path)
        try:
            st = full.stat()
        except OSError:
            return "missing"
        old = self.known.get(path)
        if old and old[:2] == (st.st_size, st.st_mtime_ns):
            digest = old[2]
        else:
            digest = hashlib.blake2b(full.read_bytes(), digest_size=16).hexdigest()
        if self.now - st.st_mtime_ns > RACY_NS:
            self.seen[path] = (st.st_size, st.st_mtime_ns, digest)
        return digest


def _read(cache_file: Path) -> dict:
    try:
        with open(cache_file, "rb") as fh:
            data = pickle.load(fh)
        return data if isinstance(data, dict) and data.get("layout") == LAYOUT else {}
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        return {}   # no cache, or one an older qualflow wrote: load in full


def _write(cache_file: Path, data: dict) -> None:
    """Atomically (a concurrent reader sees the old file or the new one); a cache that cannot be
    written (read-only study folder) only costs the next load its time."""
    tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp")
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # identifying: owner only
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache_file)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def cached_load(load: Callable[..., object], config: dict, base: str | Path, config_path: str | Path | None,
                full: bool, cache_file: str | Path, write: bool = True):
    """``load(read=...)`` (``validate.load_study`` with its arguments bound) through the cache.

    ``read(src)`` is what the load calls for each transcript: a cached Transcript when the file's
    content is unchanged, else a parse. Only a full check (``full``, the main process) writes the
    cache; a job's partial one (``full=False``) uses a full one's result. ``write=False`` reads only.
    Problems (InputError) propagate and are never cached. ``cache_file`` is relative to ``base``.
    Returns the Study.
    """
    from .transcripts import read_transcript

    base = Path(base)
    cache_file = Path(cache_file) if base == Path(".") else base / cache_file
    old = _read(cache_file)
    hashes = _Hashes(old.get("hashes", {}))
    files, names = input_files(config, base, config_path)
    code = code_version()
    key_h = hashlib.blake2b(digest_size=16)
    key_h.update(json.dumps([code, str(base), str(config_path)]).encode())
    key_h.update(json.dumps(config, sort_keys=True, default=str).encode())
    for f in files:
        key_h.update(f"{f}\0{hashes(f)}\n".encode())
    key_h.update("\0".join(names).encode())
    key = key_h.hexdigest()
    if old.get("key") == key and (old.get("full") or not full):   # a job may use the full check's result
        old["study"].config = config
        return old["study"]
    old_study = old.get("study") if old.get("code") == code else None   # another parser: parse again
    known = {} if old_study is None else dict(old_study.transcripts)
    old_hashes = old.get("file_hashes", {})

    def reader(src):
        t = known.get(src.path)
        if t is not None and t.site == src.site and old_hashes.get(src.path) == hashes(src.path):
            return t
        return read_transcript(src.path, src.site)

    def book_reader(path):
        from .codebook import load_codebook   # a codebook with problems is never cached: parsed again

        same = old_study is not None and old_study.codebook is not None
        return old_study.codebook if same and old_hashes.get(str(path)) == hashes(str(path)) else load_codebook(path)

    study = load(read=reader, read_book=book_reader)
    if write and full:
        _write(cache_file, {"layout": LAYOUT, "key": key, "code": code, "full": True, "study": study,
                            "hashes": hashes.seen,
                            "file_hashes": {f: hashes(f) for f in files}})
    return study
