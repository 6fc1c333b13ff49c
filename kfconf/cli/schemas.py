"""`kfconf schemas`: the schemas the output check uses; import a platform's own CRDs.

    kfconf schemas ls [PATH] [--stack NAME]          which schema checks each kind, for a stack
    kfconf schemas import FILE... [-p PATH]           CRDs from YAML files into PATH/.kfconf/schemas/
    kfconf schemas import --from-cluster [--kubeconfig FILE] [--context NAME] [--group G]... [--all]

Imported CRDs are converted exactly like the shipped ones and take precedence over them in every
build of that project, for users whose platform runs other releases than the stacks name.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kfconf.core.errors import Diagnostic, ExternalError, FindingsError, UsageError


def add(sub: Any) -> None:
    p = sub.add_parser("schemas", help="list the schemas the output check uses; import CRDs")
    verbs = p.add_subparsers(dest="schemas_verb", metavar="ACTION")
    ls = verbs.add_parser("ls", help="which schema checks each kind for a stack")
    ls.add_argument("path", nargs="?", default=None, metavar="PATH", help="a project (its stack and local schemas)")
    ls.add_argument("--stack", help="this stack instead of the project's (default without a project: kubeflow-latest)")
    imp = verbs.add_parser("import", help="add CRDs to the project's local schemas (.kfconf/schemas/)")
    imp.add_argument("files", nargs="*", metavar="FILE", help="YAML files with CustomResourceDefinitions")
    imp.add_argument("-p", "--project", default=".", metavar="PATH", help="the project (default: .)")
    imp.add_argument("--from-cluster", action="store_true", help="read the CRDs of the current cluster")
    imp.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig for --from-cluster")
    imp.add_argument("--context", metavar="NAME", help="kubeconfig context for --from-cluster")
    imp.add_argument("--group", action="append", default=[], metavar="GROUP",
                     help="only CRDs of this API group (repeatable; default from a cluster: the groups kfconf "
                          "ships schemas for)")
    imp.add_argument("--all", action="store_true", help="from a cluster: every CRD, not only the known groups")


def run(args: argparse.Namespace) -> int:
    if args.schemas_verb == "ls":
        return _ls(args)
    if args.schemas_verb == "import":
        return _import(args)
    raise UsageError("expected an action: kfconf schemas ls | import")


def _ls(args: argparse.Namespace) -> int:
    from kfconf.build.schemas import LOCAL_DIR, SchemaSet, release_for, shipped_index
    from kfconf.cli.common import one_project
    from kfconf.spec.stacks import load_stack

    local: list[Path] = []
    stack_ref = args.stack
    if args.path is not None or (Path("ml-project.yaml").is_file() and not args.stack):
        project_dir = one_project(args.path)
        local.append(project_dir / LOCAL_DIR)
        if stack_ref is None:
            from kfconf.spec.loader import load

            data = load(project_dir / "ml-project.yaml", "ml-project.yaml").data
            spec = data.get("spec") if isinstance(data, dict) else None
            stack_ref = spec.get("stack") if isinstance(spec, dict) else None
        stack = load_stack(str(stack_ref or "kubeflow-latest"), project_dir)
    else:
        stack = load_stack(str(stack_ref or "kubeflow-latest"))
    schemas = SchemaSet(local)
    index = shipped_index()
    rows: list[tuple[str, str, str]] = []
    kinds: dict[str, list[str]] = {}
    for key, entry in index["kinds"].items():
        kinds[key] = sorted({v for rel in entry["releases"].values() for v in _versions(rel)})
    from kfconf.build.schemas import _local_docs

    for d in local:
        for key, (_, local_doc) in _local_docs(d.resolve()).items():
            kinds[key] = sorted(local_doc["versions"])
    notes: dict[str, int] = {}
    for key in sorted(kinds):
        group, _, kind = key.partition("/")
        group = "" if group == "core" else group
        for version in kinds[key]:
            av = f"{group}/{version}" if group else version
            look = schemas.lookup(stack, av, kind)
            if look.schema is None:
                rows.append((kind, av, f"- {look.why}"))
            else:
                mark = ""
                if look.why:
                    notes.setdefault(look.why, len(notes) + 1)
                    mark = f"  [{notes[look.why]}]"
                rows.append((kind, av, f"{look.schema.key}{mark}"))
    print(f"# stack {stack.name}; core kinds: Kubernetes {release_for(stack, 'kubernetes')[0]}")
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    for kind, av, src in rows:
        print(f"{kind:<{w1}}  {av:<{w2}}  {src}")
    for why, n in notes.items():
        print(f"[{n}] {why}")
    return 0


def _versions(rel: str) -> list[str]:
    from kfconf.build.schemas import _shipped_doc

    return sorted(_shipped_doc(rel)["versions"])


def _import(args: argparse.Namespace) -> int:
    from kfconf.build.schemas import LOCAL_DIR, object_meta_definitions
    from kfconf.build.schemas_convert import crd_kind_file, is_crd
    from kfconf.cli.common import one_project

    if bool(args.files) == bool(args.from_cluster):
        raise UsageError("expected FILE... or --from-cluster (one of them)")
    project_dir = one_project(args.project)
    out_dir = project_dir / LOCAL_DIR
    crds: list[tuple[dict[str, Any], str]] = []
    if args.from_cluster:
        crds = _from_cluster(args)
    else:
        for f in args.files:
            crds.extend(_from_file(Path(f)))
    groups = set(args.group)
    if args.from_cluster and not groups and not args.all:
        from kfconf.build.schemas import shipped_index

        groups = {k.partition("/")[0] for k in shipped_index()["kinds"] if not k.startswith("core/")}
    meta = object_meta_definitions()
    written = 0
    for crd, source in crds:
        if not is_crd(crd):
            continue
        spec = crd.get("spec") or {}
        if groups and spec.get("group") not in groups:
            continue
        try:
            doc = crd_kind_file(crd, meta, release="imported", source=source)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise FindingsError([Diagnostic("KF006", f"expected a CustomResourceDefinition with versions and "
                                                     f"schemas, got one that cannot be read ({type(e).__name__}: {e})",
                                            hint=source)])
        path = out_dir / doc["group"] / f"{doc['kind']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
        written += 1
        print(f"{doc['kind']} ({doc['group']}; {', '.join(sorted(doc['versions']))}) → {path}", file=sys.stderr)
    if not written:
        raise UsageError("no CustomResourceDefinition found" + (f" in groups {', '.join(sorted(groups))}"
                                                               if groups else ""))
    print(f"imported {written} CRD{'s' * (written != 1)} into {out_dir}; builds of this project use them",
          file=sys.stderr)
    return 0


def _from_file(path: Path) -> Iterable[tuple[dict[str, Any], str]]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        docs = list(yaml.safe_load_all(text))
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})")
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise FindingsError([Diagnostic("KF001", f"expected YAML, got: {str(e).splitlines()[0]}", hint=str(path))])
    for d in docs:
        if isinstance(d, dict) and d.get("kind") == "List":
            for item in d.get("items") or []:
                yield item, str(path)
        elif isinstance(d, dict):
            yield d, str(path)


def _from_cluster(args: argparse.Namespace) -> list[tuple[dict[str, Any], str]]:
    try:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError as e:  # pragma: no cover - a dependency of kfconf
        raise ExternalError(f"the kubernetes client is needed for --from-cluster ({e})")
    try:
        api = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)
    except (ConfigException, OSError, TypeError) as e:
        raise ExternalError(f"cannot load the kubeconfig: {e}")
    try:
        listed = client.ApiextensionsV1Api(api).list_custom_resource_definition()
    except Exception as e:  # the client raises ApiException, urllib3 and socket errors alike
        raise ExternalError(f"cannot list CustomResourceDefinitions: {type(e).__name__}: {str(e).splitlines()[0]}")
    host = api.configuration.host
    out = []
    for item in listed.items:
        d = api.sanitize_for_serialization(item)
        d.setdefault("apiVersion", "apiextensions.k8s.io/v1")
        d.setdefault("kind", "CustomResourceDefinition")
        out.append((d, f"cluster {host}"))
    return sorted(out, key=lambda x: str(x[0].get("metadata", {}).get("name", "")))
