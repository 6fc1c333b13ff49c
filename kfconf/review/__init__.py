"""Review and gates: desired-vs-desired diffs with an impact summary (`kfconf diff`), policy rules with
justified exemptions (`kfconf check`), and their report formats (text, Markdown, JSON, SARIF,
GitHub annotations, JUnit).

    normalize   strip the noise two renders of the same intent differ by
    diff        resource-by-resource, field-by-field changes; immutable fields that force a replace
    quantity    Kubernetes quantities and Spark memory sizes
    impact      requested GPUs/CPU/memory before → after, replicas, canary traffic and rollouts
    diffreport  text / Markdown (size-capped for a PR comment) / JSON renderings of a diff
    gitplan     which projects and environments a change between two revisions touches
    compare     `kfconf diff` as a library call: render both revisions of what changed, and compare
    rules       built-in policy rules, each with a stable code and a one-line rationale
    policy      the policy file: per-environment settings, custom rules, exemptions
    checker     `kfconf check` as a library call: every rule over projects × environments
    findings    check results as text / JSON / SARIF 2.1.0 / GitHub annotations / JUnit XML
"""
