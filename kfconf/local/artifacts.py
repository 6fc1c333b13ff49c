"""The local artifact store: `.kfconf/artifacts/<section>/<name>/<key>/` plus a record `<key>.json`.

`key` is the content hash of what produced the output (the step's resolved spec, its input files, the
outputs of the steps before it). A record exists only for a successful run, so a re-run with the same key
reuses the output instead of running again. `latest` names the key whose output the entry currently
offers to later steps (a registry entry `from: training/NAME`, a dataset URI, …).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfconf.local.runs import safe_name, state_dir

BIG_FILE = 16 * 1024 * 1024
"""Files above this size are fingerprinted by size and modification time instead of their content."""


def hash_json(obj: Any) -> str:
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(data).hexdigest()


def hash_file(path: Path) -> str:
    st = path.stat()
    if st.st_size > BIG_FILE:
        return f"size:{st.st_size}:mtime:{st.st_mtime_ns}"
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_tree(path: Path, skip: Iterable[str] = ("__pycache__", ".kfconf", ".git")) -> str:
    """A content hash of a file or a folder (names and contents, not times)."""
    path = Path(path)
    if not path.exists():
        return "missing"
    if path.is_file():
        return hash_file(path)
    skipped = set(skip)
    h = hashlib.sha256()
    seen: set[str] = set()
    for root, dirs, files in os.walk(path, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back into the tree
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if d not in skipped and os.path.realpath(os.path.join(root, d)) not in seen)
        for f in sorted(files):
            p = Path(root, f)
            h.update(str(p.relative_to(path)).encode() + b"\0" + hash_file(p).encode() + b"\n")
    return h.hexdigest()


def output_hash(out: Path, outputs: dict[str, Any]) -> str:
    """What a step produced: its output folder and what it reported (metrics, best trial …)."""
    reported = {k: v for k, v in outputs.items() if k != "summary"}
    return hash_json({"files": hash_tree(out), "reported": reported})


@dataclass(frozen=True)
class Record:
    ref: str
    key: str
    output_dir: Path
    outputs: dict[str, Any]
    output_hash: str
    run_id: str
    created: str

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "key": self.key, "outputDir": str(self.output_dir), "outputs": self.outputs,
                "outputHash": self.output_hash, "runId": self.run_id, "created": self.created}


class ArtifactStore:
    def __init__(self, project_dir: Path) -> None:
        self.root = state_dir(project_dir) / "artifacts"

    def entry_dir(self, ref: str) -> Path:
        section, _, name = ref.partition("/")
        return self.root / safe_name(section) / safe_name(name)

    def output_dir(self, ref: str, key: str) -> Path:
        return self.entry_dir(ref) / key[:16]

    def prepare(self, ref: str, key: str) -> Path:
        """A clean output folder for a run with `key` (a failed earlier attempt's leftovers are removed)."""
        out = self.output_dir(ref, key)
        if out.exists() and not self._record_path(ref, key).exists():
            shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        return out

    def _record_path(self, ref: str, key: str) -> Path:
        return self.entry_dir(ref) / f"{key[:16]}.json"

    def lookup(self, ref: str, key: str) -> Record | None:
        p = self._record_path(ref, key)
        if not p.is_file():
            return None
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        rec = _record(doc)
        if rec is None or rec.key != key or not rec.output_dir.is_dir():
            return None
        return rec

    def commit(self, ref: str, key: str, outputs: dict[str, Any], run_id: str) -> Record:
        out = self.output_dir(ref, key)
        rec = Record(ref, key, out, outputs, output_hash(out, outputs), run_id,
                     time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        _write_json(self._record_path(ref, key), rec.to_json())
        self.set_latest(ref, key)
        return rec

    def set_latest(self, ref: str, key: str) -> None:
        d = self.entry_dir(ref)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / ".latest.tmp"
        tmp.write_text(key + "\n", encoding="utf-8")
        os.replace(tmp, d / "latest")

    def latest(self, ref: str) -> Record | None:
        p = self.entry_dir(ref) / "latest"
        if not p.is_file():
            return None
        return self.lookup(ref, p.read_text(encoding="utf-8").strip())


def _record(doc: dict[str, Any]) -> Record | None:
    try:
        return Record(doc["ref"], doc["key"], Path(doc["outputDir"]), dict(doc.get("outputs") or {}),
                      doc.get("outputHash", ""), doc.get("runId", ""), doc.get("created", ""))
    except (KeyError, TypeError):
        return None


def _write_json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
