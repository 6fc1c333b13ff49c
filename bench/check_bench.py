"""Check the rendered output against the CRD and Kubernetes schemas: resources per second.

kfconf: kfconf.build.outcheck.check_resources on every build's resources (200 projects × 3 envs), in
process, as `kfconf build` runs it after rendering (schemas compiled once, as in any build process).
kubeconform: the same resources, written as one YAML stream per build, validated with `-strict` and
`-schema-location` pointed at JSON schemas exported from the very schemas kfconf checks with (which
kfconf's tools/gen_schemas.py made from the upstream CRDs and Kubernetes' OpenAPI) — one kubeconform run
per stack, since a stack selects the component releases and so the schema of each kind.
A second row runs kfconf's check as a fresh process on the YAML files kubeconform reads (start-up, parsing
and schema loading included), the like-for-like CI step; it reads them as the syncer reads manifests
(kfconf.spec.loader.documents).
kubernetes-validate (Python, jsonschema): the resources of the Kubernetes kinds it has schemas for — it
knows no CRDs — one `validate(..., strict=True)` call each, on the first builds' resources.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import harness, workspace
from bench.generator import ENVS

TARGET = harness.le(1)

# the same work as a separate kfconf process: read the streams kubeconform reads, check them per build
_CHILD = """
import sys
from pathlib import Path
from kfconf.build.outcheck import check_resources
from kfconf.core.resource import Resource
from kfconf.spec.loader import documents
from kfconf.spec.stacks import load_stack
errors = 0
for folder in sorted(Path(sys.argv[1]).iterdir()):
    stack = load_stack(folder.name)
    for f in sorted(folder.glob("*.yaml")):
        res = [Resource(b) for _, b in documents(f.read_text(), str(f)) if b]
        errors += sum(d.severity.value == "error" for d in check_resources(res, stack))
print(errors)
"""


def _export(stack: Any, resources: list[Any], folder: Path) -> list[str]:
    """Write kubeconform-layout schema files for the kinds in `resources`; return -schema-location arguments
    (core kinds first: kubeconform finds no file through `{{ .Group }}/` when the group is empty)."""
    from kfconf.build.schemas import SchemaSet

    schemas = SchemaSet()
    done = set()
    for r in resources:
        key = (r.api_version, r.kind)
        if key in done:
            continue
        done.add(key)
        found = schemas.lookup(stack, r.api_version, r.kind)
        if found.schema is None:
            continue
        group, _, version = r.api_version.rpartition("/")
        path = folder / (group or "core") / f"{r.kind.lower()}_{version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(found.schema.schema))  # the self-contained draft-07 schema kfconf compiles
    name = "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
    return ["-schema-location", f"{folder}/core/{name}", "-schema-location", f"{folder}/{{{{ .Group }}}}/{name}"]


def run(quick: bool) -> list[dict[str, Any]]:
    from kfconf.build import build_project, outcheck
    from kfconf.build.emit import dump_stream

    check_resources = outcheck.check_resources

    n = 20 if quick else 200
    reps = 2 if quick else 5
    projects = workspace.projects(n)
    cwd = Path.cwd()
    builds = []
    for p in projects:
        for env in ENVS:
            r = build_project(p, env, cwd=cwd, check=False)
            builds.append((r.resources, r.stack))
    total = sum(len(res) for res, _ in builds)
    errors: list[str] = []

    def kfconf() -> None:
        for res, st in builds:
            for d in check_resources(res, st):
                if d.severity.value == "error":
                    errors.append(d.render())

    kfconf()  # compiles the schemas, as the first build of a process does
    if errors:
        raise RuntimeError(f"generated output fails its own check: {errors[0]}")

    rows: list[dict[str, Any]] = []
    bins = harness.peer_binaries()
    kc = bins.get("kubeconform")
    by_stack: dict[str, list[Any]] = defaultdict(list)
    stacks: dict[str, Any] = {}
    for res, st in builds:
        by_stack[st.name].extend(res)
        stacks[st.name] = st
    if kc is None:
        rows.append(harness.not_run("check vs kubeconform", "no kubeconform from scripts/controlplane.sh peers"))
    else:
        root = workspace.scratch(f"kubeconform-{n}")
        runs: list[list[str | Path]] = []
        for name, res in sorted(by_stack.items()):
            locations = _export(stacks[name], res, root / "schemas" / name)
            docs = root / "docs" / name
            docs.mkdir(parents=True)
            i = 0
            for bres, st in builds:
                if st.name == name:
                    (docs / f"{i:05d}.yaml").write_text(dump_stream(bres))
                    i += 1
            runs.append([kc, "-strict", "-summary", "-output", "json", *locations, docs])
        summary: dict[str, int] = defaultdict(int)

        def kubeconform() -> harness.Cost:
            summary.clear()
            total = harness.Cost(0.0, 0.0)
            for cmd in runs:
                proc = harness.run(cmd, check=False)
                total += proc.cost
                out = json.loads(proc.stdout or b"{}")
                for k, v in (out.get("summary") or {}).items():
                    summary[k] += v
                if proc.returncode not in (0, 1):
                    raise RuntimeError(f"kubeconform failed: {proc.stderr.decode()[-300:]}")
            return total

        def kfconf_process() -> harness.Proc:
            proc = harness.run([sys.executable, "-c", _CHILD, root / "docs"], cwd=harness.REPO)
            if proc.stdout.decode().strip() != "0":
                raise RuntimeError(f"kfconf's check rejected resources read back from YAML: {proc.stdout[-300:]!r}")
            return proc

        k, peer = harness.compare(kfconf, kubeconform, reps)
        kp, peer2 = harness.compare(kfconf_process, kubeconform, reps)
        valid = summary.get("valid", 0)
        if valid != total:
            raise RuntimeError(f"kubeconform validated {valid} of {total} resources as valid: {dict(summary)}")
        version = harness.version_of(kc, "-v")
        rows.append(harness.row(f"check {total} rendered resources against CRD + Kubernetes schemas", k,
                                f"kubeconform {version} -strict, same schemas", peer, TARGET, unit="s",
                                resources=total,
                                note=f"kfconf {total / k.median:,.0f} resources/s, kubeconform "
                                     f"{total / peer.median:,.0f}/s (all {valid} valid in both)"))
        rows.append(harness.row(f"check {total} resources, fresh process reading the YAML files (a CI step)", kp,
                                f"kubeconform {version} -strict, same files and schemas", peer2, TARGET, unit="s",
                                resources=total,
                                note=f"kfconf {total / kp.median:,.0f} resources/s including start-up, YAML parsing "
                                     f"and schema loading, kubeconform {total / peer2.median:,.0f}/s"))
    rows.append(_vs_kubernetes_validate(builds, check_resources))
    return rows


def _vs_kubernetes_validate(builds: list[Any], check_resources: Any, limit: int = 600) -> dict[str, Any]:
    """Throughput on the first `limit` resources it knows (it reads its schema files anew for every
    resource: ~70 resources/s, so the whole set would only make the run minutes longer)."""
    try:
        import kubernetes_validate
        from kubernetes_validate.utils import SchemaNotFoundError
    except ImportError as e:
        return harness.not_run("check vs kubernetes-validate", f"kubernetes-validate not installed ({e})")
    version = "1.33.0"
    core: list[tuple[list[Any], Any]] = []
    for res, st in builds:
        known = []
        for r in res:
            try:
                kubernetes_validate.validate(r.body, version, strict=True)
                known.append(r)
            except SchemaNotFoundError:
                continue
        if known:
            core.append((known, st))
        if sum(len(r) for r, _ in core) >= limit:
            break
    count = sum(len(r) for r, _ in core)

    def kfconf() -> None:
        for res, st in core:
            check_resources(res, st)

    def peer() -> None:
        for res, _ in core:
            for r in res:
                kubernetes_validate.validate(r.body, version, strict=True)

    k, p = harness.compare(kfconf, peer, 3)
    return harness.row(f"check {count} resources of Kubernetes kinds (the ones kubernetes-validate knows)", k,
                       f"kubernetes-validate {getattr(kubernetes_validate, '__version__', '')} strict", p, "",
                       unit="s", resources=count,
                       note=f"kfconf {count / k.median:,.0f}/s, kubernetes-validate {count / p.median:,.0f}/s; "
                            "it has no CRD schemas, so the CRD resources are not in this row")
