"""What two renders of the same intent may differ by without meaning anything.

Removed before comparing: kfconf's content-hash and source-line annotations (a spec line that moved
is not a change in the cluster), null values, empty lists and empty label-like maps. Filled in on
both sides: the defaults the target APIs apply themselves (from the upstream CRDs and webhooks),
so that writing a default explicitly is not a change either. Key order never matters: bodies are
compared as mappings and printed sorted.
"""

from __future__ import annotations

from typing import Any

from kfconf.build.postprocess import HASH_ANNOTATION, SOURCE_ANNOTATION

NOISE_ANNOTATIONS = frozenset({HASH_ANNOTATION, SOURCE_ANNOTATION})
# Maps whose emptiness means the same as their absence; `emptyDir: {}` or `jax: {}` do not.
EMPTY_IS_ABSENT = frozenset({"labels", "annotations", "nodeSelector", "tags", "sparkConf", "hadoopConf",
                             "selector_labels"})
MASK = "(masked)"

# (group, kind) → [(path, default)]: filled in only where the parent mapping exists.
DEFAULTS: dict[tuple[str, str], tuple[tuple[tuple[str, ...], Any], ...]] = {
    ("trainer.kubeflow.org", "TrainJob"): (
        (("spec", "runtimeRef", "apiGroup"), "trainer.kubeflow.org"),
        (("spec", "runtimeRef", "kind"), "ClusterTrainingRuntime"),
        (("spec", "suspend"), False),
        (("spec", "managedBy"), "trainer.kubeflow.org/trainjob-controller"),
    ),
    ("serving.kserve.io", "InferenceService"): (
        (("spec", "predictor", "minReplicas"), 1),
    ),
    ("kubeflow.org", "Experiment"): (
        (("spec", "parallelTrialCount"), 3),
        (("spec", "resumePolicy"), "Never"),
    ),
    ("sparkoperator.k8s.io", "SparkApplication"): (
        (("spec", "mode"), "cluster"),
    ),
    ("sparkoperator.k8s.io", "ScheduledSparkApplication"): (
        (("spec", "concurrencyPolicy"), "Allow"),
        (("spec", "successfulRunHistoryLimit"), 1),
        (("spec", "failedRunHistoryLimit"), 1),
        (("spec", "template", "mode"), "cluster"),
    ),
    ("apps", "Deployment"): ((("spec", "replicas"), 1),),
    ("apps", "StatefulSet"): ((("spec", "replicas"), 1),),
    ("batch", "Job"): ((("spec", "parallelism"), 1),),
}


def group_kind(body: dict[str, Any]) -> tuple[str, str]:
    api = str(body.get("apiVersion", ""))
    return (api.rpartition("/")[0], str(body.get("kind", "")))


def _clean(value: Any) -> Any:
    """A new tree without nulls, empty lists and empty label-like maps (the input is left alone)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            c = _clean(v)
            if c is None or (isinstance(c, list) and not c) or (isinstance(c, dict) and not c and k in EMPTY_IS_ABSENT):
                continue
            out[k] = c
        return out
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def normalize(body: dict[str, Any], defaults: bool = True) -> dict[str, Any]:
    """A copy of BODY without noise; with DEFAULTS, the API's own defaults filled in."""
    out: dict[str, Any] = _clean(body)
    meta = out.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        kept = {k: v for k, v in meta["annotations"].items() if k not in NOISE_ANNOTATIONS}
        if kept:
            meta["annotations"] = kept
        else:
            del meta["annotations"]
    if defaults:
        for path, value in DEFAULTS.get(group_kind(out), ()):
            parent: Any = out
            for part in path[:-1]:
                parent = parent.get(part) if isinstance(parent, dict) else None
            if isinstance(parent, dict) and path[-1] not in parent:
                parent[path[-1]] = value
    return out


def is_secret(body: dict[str, Any]) -> bool:
    return group_kind(body) == ("", "Secret")


def mask_body(body: dict[str, Any]) -> dict[str, Any]:
    """A Secret's values never reach a report, whatever produced them."""
    if not is_secret(body):
        return body
    out = dict(body)
    for key in ("data", "stringData"):
        if isinstance(out.get(key), dict):
            out[key] = {k: MASK for k in out[key]}
    return out
