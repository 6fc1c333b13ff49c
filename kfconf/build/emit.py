"""Emit: deterministic YAML, as one stream or as a tree with a kustomization.yaml.

A tree is written to a temporary sibling directory and swapped in with renames, so an interrupted
build never leaves a half-written output directory behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from kfconf.core.resource import Resource

try:
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_NULL = "tag:yaml.org,2002:null"
_FLOAT = "tag:yaml.org,2002:float"
_RESOLVED: dict[str, str] = {}
"""Plain scalar text → the tag it would resolve to (the emitter asks twice for every scalar it writes)."""


def _yaml12_number(text: str) -> bool:
    """Whether YAML 1.2 readers (Go's yaml behind kubectl, kustomize, Argo CD, Flux) read this plain text as a
    number though PyYAML's YAML 1.1 reads a string: 0878622884 (no octal in 1.1, an integer in 1.2), 1e5 (1.1
    wants a signed exponent), 0o17. Such strings must be quoted, or a hash-like name turns into a number."""
    if not text or text[0] not in "+-.0123456789":
        return False
    try:
        float(text)
        return True
    except ValueError:
        pass
    try:
        int(text, 0)
        return True
    except ValueError:
        return False


def _str_presenter(dumper: Any, data: str) -> Any:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar(_STR, data, style=style)


class Dumper(_Dumper):
    """PyYAML's safe dumper with libyaml's emitter, made faster where its Python half is generic.

    Output is byte-identical to the plain SafeDumper + `_str_presenter`: the fast paths below build the same
    nodes for the exact built-in types a resource body holds (other types take PyYAML's own path), and
    memoise implicit-tag resolution, which depends only on the scalar's text here (no path resolvers)."""

    def represent_data(self, data: Any) -> Any:
        t = type(data)
        if self.default_style is not None or self.default_flow_style is None:
            return super().represent_data(data)
        if t is str:
            return ScalarNode(_STR, data, style="|" if "\n" in data else None)
        if t is dict or t is list:
            key = id(data)
            node = self.represented_objects.get(key)
            if node is not None:  # the same object twice: PyYAML writes an anchor and an alias
                return node
            self.object_keeper.append(data)
            rep = self.represent_data
            if t is dict:
                pairs: list[Any] = []
                node = MappingNode(_MAP, pairs, flow_style=self.default_flow_style)
                self.represented_objects[key] = node
                items = list(data.items())
                if self.sort_keys:
                    with contextlib.suppress(TypeError):  # keys of mixed types stay in insertion order
                        items = sorted(items)
                for k, v in items:
                    pairs.append((rep(k), rep(v)))
                return node
            values: list[Any] = []
            node = SequenceNode(_SEQ, values, flow_style=self.default_flow_style)
            self.represented_objects[key] = node
            for v in data:
                values.append(rep(v))
            return node
        if t is bool:
            return ScalarNode(_BOOL, "true" if data else "false")
        if t is int:
            return ScalarNode(_INT, str(data))
        if data is None:
            return ScalarNode(_NULL, "null")
        return super().represent_data(data)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        if not implicit[0]:
            return _STR  # a non-plain scalar resolves to str (Resolver.resolve's DEFAULT_SCALAR_TAG)
        tag = _RESOLVED.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if tag == _STR and _yaml12_number(value):
                tag = _FLOAT  # not str as a plain scalar: the emitter quotes it
            if len(_RESOLVED) > 100_000:
                _RESOLVED.clear()
            _RESOLVED[value] = tag
        return tag

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        if self.yaml_path_resolvers:
            super().descend_resolver(current_node, current_index)

    def ascend_resolver(self) -> None:
        if self.yaml_path_resolvers:
            super().ascend_resolver()


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
