"""Notebooks → Kubeflow Notebook (kubeflow.org/v1), shaped as the Jupyter web app creates one.

- The container is named like the notebook (the controller's convention) and the pod runs as the
  profile's `default-editor` service account, so the notebook can use the namespace's Kubeflow APIs.
- The Notebook's labels are copied to its pod, which is how PodDefault selectors (`<name>: "true"`) match.
- `notebooks.kubeflow.org/server-type` (and, for code-server and RStudio images, the URI rewrite the
  Istio route needs) follow the web app's image groups; `stopped: true` sets `kubeflow-resource-stopped`,
  which the controller reads as "scale to 0".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kfconf.build.context import RenderContext
from kfconf.components.k8s import Explain, env_list, pod_placement, project_spec, resources, volume, volume_mount
from kfconf.core.resource import Resource

STOPPED = "kubeflow-resource-stopped"
SERVER_TYPE = "notebooks.kubeflow.org/server-type"
REWRITE_URI = "notebooks.kubeflow.org/http-rewrite-uri"
HEADERS_SET = "notebooks.kubeflow.org/http-headers-request-set"


def image(ctx: RenderContext, nb: Any, ex: Explain) -> str:
    """A project image name, a stack notebook image (`notebook:<name>`), or a full reference."""
    images = project_spec(ctx).images
    if nb.image in images:
        ex.at("spec.template.spec.containers[0].image", ("spec", "images", nb.image))
        return str(images[nb.image])
    key = f"notebook:{nb.image}"
    if key in ctx.stack.images:
        ex.stack("spec.template.spec.containers[0].image", f"images.{key}")
        return ctx.stack.images[key]
    ex.spec("spec.template.spec.containers[0].image", "image")
    return str(nb.image)


def server_annotations(ctx: RenderContext, name: str, ref: str) -> dict[str, str]:
    """The web app's image groups: code-server is "group-one", RStudio "group-two", the rest Jupyter."""
    if "codeserver" in ref or "code-server" in ref:
        return {SERVER_TYPE: "group-one", REWRITE_URI: "/"}
    if "rstudio" in ref:
        root = f'{{"X-RStudio-Root-Path":"/notebook/{ctx.namespace}/{name}/"}}'
        return {SERVER_TYPE: "group-two", REWRITE_URI: "/", HEADERS_SET: root}
    return {SERVER_TYPE: "jupyter"}


def notebook(ctx: RenderContext, nb: Any) -> Resource:
    ex = Explain(ctx, ctx.path(nb))
    ref = image(ctx, nb, ex)
    container: dict[str, Any] = {"name": nb.name, "image": ref}
    ex.spec("spec.template.spec.containers[0].name", "name")
    res = resources(nb.resources)
    if res:
        container["resources"] = res
        ex.spec("spec.template.spec.containers[0].resources", "resources")
    if nb.env:
        container["env"] = env_list(nb.env)
        ex.spec("spec.template.spec.containers[0].env", "env")
    if nb.volumes:
        container["volumeMounts"] = [volume_mount(v) for v in nb.volumes]
        ex.spec("spec.template.spec.containers[0].volumeMounts", "volumes")
    pod: dict[str, Any] = {"containers": [container]}
    account = ctx.stack.component("notebooks").get("serviceAccount")
    if account:
        pod["serviceAccountName"] = account
        ex.stack("spec.template.spec.serviceAccountName", "components.notebooks.serviceAccount")
    if nb.volumes:
        pod["volumes"] = [volume(v) for v in nb.volumes]
        ex.spec("spec.template.spec.volumes", "volumes")
    place = pod_placement(nb.placement)
    pod.update(place)
    for key in place:
        ex.spec(f"spec.template.spec.{key}", "placement")

    meta: dict[str, Any] = {"name": nb.name, "namespace": ctx.namespace}
    if nb.pod_defaults:
        meta["labels"] = {pd: "true" for pd in nb.pod_defaults}
        for pd in nb.pod_defaults:
            ex.spec(f"metadata.labels.{pd}", "podDefaults")
    annotations = server_annotations(ctx, nb.name, f"{nb.image} {ref}")
    ex.spec(f"metadata.annotations.{SERVER_TYPE}", "image")
    if nb.stopped:
        annotations[STOPPED] = "true"
        ex.spec(f"metadata.annotations.{STOPPED}", "stopped")
    meta["annotations"] = annotations
    ex.spec("metadata.name", "name")
    ex.stack("apiVersion", "components.notebooks.apiVersion")
    body = {"apiVersion": ctx.stack.component("notebooks").get("apiVersion", "kubeflow.org/v1"),
            "kind": "Notebook", "metadata": meta, "spec": {"template": {"spec": pod}}}
    out = ctx.resource(body, nb)
    out.explain.update(ex.out)
    return out


def render(ctx: RenderContext) -> Iterator[Resource]:
    for nb in ctx.entries():
        yield notebook(ctx, nb)
