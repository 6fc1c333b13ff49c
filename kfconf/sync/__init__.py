"""The syncer: keeps a cluster equal to a folder of a GitOps repository.

    source     git repository → commit (optionally signature-verified) → manifests
    manager    staged server-side apply, drift detection by dry-run, inventory pruning, waits
    inventory  what this syncer applied, per project and environment, stored in the cluster
    health     rules per kind, collected from every component slice's HEALTH map
    tenant     lockdown: one namespace and an allow-list of kinds, checked before any API call
    loop       poll → reconcile → status, events, metrics, /healthz /readyz /metrics

The Kubernetes client is imported only inside these modules' functions, never by `import kfconf`.
"""
