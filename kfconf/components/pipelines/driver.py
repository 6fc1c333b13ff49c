"""The program a pipeline step runs in the cluster; standard library only (it runs in a plain python image).

kfconf embeds this file's source in the pipeline IR (`python3 -c SOURCE MODE ...`), so it imports
nothing from kfconf. Modes:

    create  API_PATH PROBE OK FAIL DEADLINE MANIFEST   create the object (generateName), wait for OK/FAIL
    apply   API_PATH PROBE OK FAIL DEADLINE MANIFEST   server-side apply the object, wait likewise
    run     KFP_URL NAMESPACE PIPELINE VERSION EXPERIMENT   start one run of a pipeline version (schedules)

API_PATH is `/apis/GROUP/VERSION/namespaces/NS/PLURAL`. PROBE says what to read from the live object:
`conditions` (the types of its conditions with status True) or a dotted field path such as
`status.applicationState.state`. OK and FAIL are comma-separated values of the probe. DEADLINE is in
seconds, 0 for none. Exit 0 when OK is seen; 1 on FAIL, on the deadline, or on an API error.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

SA = "/var/run/secrets/kubernetes.io/serviceaccount"
KFP_TOKEN = "/var/run/secrets/kubeflow/pipelines/token"
POLL_SECONDS = float(os.environ.get("KFCONF_POLL_SECONDS", "10"))


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class Api:
    """A tiny JSON client: the in-cluster Kubernetes API, or any base URL with a bearer token."""

    def __init__(self, base: str, token: str | None, cafile: str | None) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.ctx = ssl.create_default_context(cafile=cafile) if base.startswith("https") else None

    @classmethod
    def kubernetes(cls) -> Api:
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        base = os.environ.get("KFCONF_KUBE_URL") or f"https://{host}:{port}"
        token = os.environ.get("KFCONF_KUBE_TOKEN") or _read(f"{SA}/token")
        cafile = os.environ.get("KFCONF_KUBE_CA") or f"{SA}/ca.crt"
        return cls(base, token, cafile)

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=60) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:2000]
            raise SystemExit(f"kfconf-step: {method} {path}: HTTP {e.code}: {detail}") from None


def probe(obj: dict[str, Any], what: str) -> set[str]:
    if what == "conditions":
        conds = (obj.get("status") or {}).get("conditions") or []
        return {str(c.get("type")) for c in conds if str(c.get("status")) == "True"}
    value: Any = obj
    for part in what.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return {str(value)} if value not in (None, "") else set()


def wait(api: Api, path: str, what: str, ok: set[str], fail: set[str], deadline: float) -> int:
    start = time.monotonic()
    last: set[str] | None = None
    while True:
        seen = probe(api.call("GET", path), what)
        if seen != last:
            print(f"kfconf-step: {path}: {', '.join(sorted(seen)) or '(no status yet)'}", flush=True)
            last = seen
        if seen & fail:
            print(f"kfconf-step: failed ({', '.join(sorted(seen & fail))})", flush=True)
            return 1
        if seen & ok:
            return 0
        if deadline and time.monotonic() - start > deadline:
            print(f"kfconf-step: no {', '.join(sorted(ok))} within {deadline:g}s", flush=True)
            return 1
        time.sleep(POLL_SECONDS)


def workload(mode: str, args: list[str]) -> int:
    api_path, what, ok, fail, deadline, manifest = args
    body = json.loads(manifest)
    api = Api.kubernetes()
    if mode == "create":
        created = api.call("POST", api_path, body)
        name = created["metadata"]["name"]
    else:
        name = body["metadata"]["name"]
        query = urllib.parse.urlencode({"fieldManager": "kfconf-pipeline", "force": "true"})
        api.call("PATCH", f"{api_path}/{name}?{query}", body, "application/apply-patch+yaml")
    print(f"kfconf-step: {mode}d {body['kind']} {name}", flush=True)
    split = lambda s: {x for x in s.split(",") if x}  # noqa: E731
    return wait(api, f"{api_path}/{name}", what, split(ok), split(fail), float(deadline))


def start_run(args: list[str]) -> int:
    """One run of a PipelineVersion through the KFP REST API (v2beta1): what a recurring run would do.

    The ids are looked up by name each time, so the schedule follows the pipeline's newest version."""
    url, namespace, pipeline, version, experiment = args
    token = _read(KFP_TOKEN) if os.path.exists(KFP_TOKEN) else os.environ.get("KFCONF_KFP_TOKEN")
    kfp = Api(url, token, None)
    q = urllib.parse.urlencode
    pid = kfp.call("GET", f"/apis/v2beta1/pipelines/names/{pipeline}?{q({'namespace': namespace})}")["pipeline_id"]
    vid = None
    token_page = ""
    while vid is None:
        page = kfp.call("GET", f"/apis/v2beta1/pipelines/{pid}/versions?"
                        f"{q({'page_size': 100, 'page_token': token_page})}")
        for v in page.get("pipeline_versions") or []:
            if version in (v.get("name"), v.get("display_name")):
                vid = v["pipeline_version_id"]
        token_page = page.get("next_page_token") or ""
        if vid is None and not token_page:
            raise SystemExit(f"kfconf-step: pipeline {pipeline} has no version {version}")
    flt = json.dumps({"predicates": [{"key": "display_name", "operation": "EQUALS", "string_value": experiment}]})
    found = kfp.call("GET", f"/apis/v2beta1/experiments?{q({'namespace': namespace, 'filter': flt})}")
    exps = found.get("experiments") or []
    eid = exps[0]["experiment_id"] if exps else kfp.call(
        "POST", "/apis/v2beta1/experiments", {"display_name": experiment, "namespace": namespace})["experiment_id"]
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    run = kfp.call("POST", "/apis/v2beta1/runs", {
        "display_name": f"{pipeline}-{stamp}", "experiment_id": eid,
        "pipeline_version_reference": {"pipeline_id": pid, "pipeline_version_id": vid},
        "runtime_config": {"parameters": {}}})
    print(f"kfconf-step: started run {run.get('run_id')} of {pipeline}/{version}", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__)
    mode, args = argv[0], argv[1:]
    if mode in ("create", "apply"):
        return workload(mode, args)
    if mode == "run":
        return start_run(args)
    raise SystemExit(f"kfconf-step: unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
