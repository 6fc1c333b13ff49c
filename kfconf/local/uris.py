"""Dataset and model initializer URIs → local folders.

There is no network fetch in a local run (no credentials, often no internet). A URI resolves, in order, to
  1. a local path: `file:///abs/path`, `file://rel/path`, or a plain path relative to the project;
  2. the output of an entry of the project: the data or training entry whose `output:` is the URI (or a
     prefix of it), else the data entry whose name is the URI's last segment (`s3://bucket/churn/features`
     ← `data/features`); its newest local output is used (a pipeline runs that step first);
  3. a local cache: `$KFCONF_CACHE_DIR/<scheme>/<rest>` or `<project>/.kfconf/cache/<scheme>/<rest>`
     (e.g. `.kfconf/cache/hf/Qwen/Qwen2.5-0.5B/`);
  4. for `hf://ORG/NAME`, the Hugging Face hub cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`,
     `~/.cache/huggingface/hub`): `models--ORG--NAME` or `datasets--ORG--NAME`, snapshot of `refs/main`.
Anything else is an error that says where a copy would be found.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfconf.local.artifacts import ArtifactStore
from kfconf.local.runs import state_dir


@dataclass(frozen=True)
class Resolved:
    path: Path
    source: str
    """How it was found, for the log: 'local path', 'output of data/features', 'cache …'."""
    producer: str | None = None
    """The data entry whose output this is, if any."""


class Unresolvable(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def split(uri: str) -> tuple[str, str]:
    if "://" not in uri:
        return "", uri
    scheme, _, rest = uri.partition("://")
    return scheme.lower(), rest.strip("/")


def cache_roots(project_dir: Path, environ: Mapping[str, str]) -> list[Path]:
    roots = []
    if environ.get("KFCONF_CACHE_DIR"):
        roots.append(Path(environ["KFCONF_CACHE_DIR"]).expanduser())
    roots.append(state_dir(project_dir) / "cache")
    return roots


def hf_hub_roots(environ: Mapping[str, str]) -> list[Path]:
    roots = []
    if environ.get("HF_HUB_CACHE"):
        roots.append(Path(environ["HF_HUB_CACHE"]).expanduser())
    if environ.get("HF_HOME"):
        roots.append(Path(environ["HF_HOME"]).expanduser() / "hub")
    roots.append(Path("~/.cache/huggingface/hub").expanduser())
    return roots


def _hf_snapshot(root: Path, kind: str, repo: str) -> Path | None:
    base = root / f"{kind}--{repo.replace('/', '--')}"
    snaps = base / "snapshots"
    if not snaps.is_dir():
        return None
    ref = base / "refs" / "main"
    if ref.is_file():
        snap = snaps / ref.read_text(encoding="utf-8").strip()
        if snap.is_dir():
            return snap
    found = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def producer(uri: str, project: Any) -> tuple[str, str] | None:
    """(`data/NAME` or `training/NAME`, sub-path) of the entry whose output `uri` is, if any."""
    if project is None:
        return None
    for section in ("data", "training"):
        for job in project.entries(section):
            out = getattr(job, "output", None)
            if out and (uri == out or uri.startswith(out.rstrip("/") + "/")):
                return f"{section}/{job.name}", uri[len(out.rstrip("/")):].strip("/")
    last = split(uri)[1].rsplit("/", 1)[-1]
    for job in project.entries("data"):
        if job.name == last:
            return f"data/{job.name}", ""
    return None


def resolve(uri: str, *, project_dir: Path, project: Any = None, store: ArtifactStore | None = None,
            produced: Mapping[str, Path] | None = None, environ: Mapping[str, str] | None = None) -> Resolved:
    """`produced` maps `data/NAME` to the output of that step in the current run (before `latest`)."""
    env = environ if environ is not None else os.environ
    scheme, rest = split(uri)
    if scheme in ("", "file"):
        p = Path(rest if scheme else uri)
        if scheme == "file" and uri.startswith("file:///"):
            p = Path("/" + rest)
        p = p if p.is_absolute() else project_dir / p
        if p.exists():
            return Resolved(p, "local path")
        raise Unresolvable(f"{uri}: no such file or folder ({p})", "create it, or point the URI at existing data")

    prod = producer(uri, project)
    if prod is not None:
        ref, sub = prod
        out = (produced or {}).get(ref)
        if out is None and store is not None:
            rec = store.latest(ref)
            out = rec.output_dir if rec is not None else None
        if out is not None:
            last = rest.rsplit("/", 1)[-1]
            target = out / sub if sub else (out / last if (out / last).is_dir() else out)
            return Resolved(target, f"output of {ref}", ref)

    tried: list[str] = []
    for root in cache_roots(project_dir, env):
        p = root / scheme / rest
        tried.append(str(p))
        if p.exists():
            return Resolved(p, f"local cache {root}")
    if scheme == "hf":
        for root in hf_hub_roots(env):
            for kind in ("models", "datasets"):
                snap = _hf_snapshot(root, kind, rest)
                if snap is not None:
                    return Resolved(snap, f"Hugging Face cache {root}")
            tried.append(str(root / f"models--{rest.replace('/', '--')}"))
    first = f"; or run {prod[0]} first" if prod is not None else ""
    raise Unresolvable(
        f"{uri} cannot be fetched in a local run (no network access to {scheme}://)",
        f"put a copy at {state_dir(project_dir) / 'cache' / scheme / rest}{first}",
    )
