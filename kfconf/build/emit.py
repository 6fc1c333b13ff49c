"""Emit: deterministic YAML, as one stream or as a tree with a kustomization.yaml.

A tree is written to a temporary sibling directory and swapped in with renames, so an interrupted
build never leaves a half-written output directory behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from kfconf.core.resource import Resource

try:
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]


def _str_presenter(dumper: Any, data: str) -> Any:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


class Dumper(_Dumper):  # type: ignore[misc,valid-type]
    pass


Dumper.add_representer(str, _str_presenter)


def dump(body: Any) -> str:
    return yaml.dump(body, Dumper=Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True,
                     width=4096)


def dump_stream(resources: Iterable[Resource]) -> str:
    return "".join("---\n" + dump(r.body) for r in resources)


def file_name(r: Resource) -> str:
    folder = r.namespace or "_cluster"
    return f"{folder}/{r.kind.lower()}.{r.name}.yaml"


def render_tree(resources: list[Resource]) -> dict[str, str]:
    """Relative file name → content, including kustomization.yaml."""
    files = {file_name(r): dump(r.body) for r in resources}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [file_name(r) for r in resources],
    }
    files["kustomization.yaml"] = yaml.dump(kustomization, Dumper=Dumper, sort_keys=False,
                                            default_flow_style=False)
    return files


def write_tree(out_dir: Path, files: dict[str, str]) -> None:
    """Replace `out_dir` with exactly `files`, atomically from a reader's point of view."""
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for rel, text in files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
            os.rename(out_dir, old / "x")
            os.rename(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
