"""The syncer: keeps a cluster equal to a folder of a GitOps repository.

    source     git repository → commit (optionally signature-verified) → manifests with file:line
    manager    one reconcile: staged server-side apply, drift by dry-run on owned fields, pruning, waits
    inventory  what this syncer applied, per project and environment, in a ConfigMap in the cluster
    kube       the REST layer over the kubernetes client's ApiClient (discovery cached per group/version)
    fields     managedFields tries: what a field manager owns, differences restricted to it
    health     rules per kind: the core kinds' and every component slice's HEALTH map
    tenant     lockdown: one namespace and an allow-list of kinds, checked before any API call
    changeset  the result of a reconcile, read by the CLI, events, metrics and status
    events     Kubernetes Events on the objects; metrics: Prometheus + /healthz /readyz /metrics
    loop       poll → reconcile → record, once or every interval; status: `kfconf status`
    manifests  ServiceAccount, least-privilege Role/RoleBinding and Deployment of a tenant's syncer

The Kubernetes client is imported only inside these modules' functions, never by `import kfconf`.
"""
