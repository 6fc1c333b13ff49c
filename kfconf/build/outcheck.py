"""The output check: every generated object against its kind's schema and upstream's other rules.

Before anything is written (DESIGN §5), each resource is checked
- against the strict schema of its kind for the build's stack (KF401): unknown fields rejected, as
  `kubectl --validate=strict` and kubeconform `-strict` do; compiled once (fastjsonschema) and
  re-run through jsonschema only when it fails, to name every error with its path;
- against the CRD's CEL rules and list-map keys, and the admission-webhook and API-server rules
  that live outside any schema (KF402; see rules_cel and rules_webhook);
- a Katib trial template is checked as the object it will become.
Each finding is a Diagnostic at the resource's origin (the spec line that produced it), naming the
resource and the field inside it; a kind without a schema is a warning (KF403).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kfconf.build import rules_cel, rules_webhook
from kfconf.build.schemas import KindSchema, SchemaSet, compiled, detailed
from kfconf.core.errors import Diagnostic, Severity
from kfconf.core.resource import Resource
from kfconf.core.source import PathT, describe, fmt_path
from kfconf.spec.stacks import Stack

MAX_ERRORS_PER_RESOURCE = 20
TRIAL_SPEC: PathT = ("spec", "trialTemplate", "trialSpec")


def check_resources(resources: Sequence[Resource], stack: Stack,
                    local_dirs: Sequence[Path] = ()) -> list[Diagnostic]:
    """All findings for a build's resources; errors block the build, warnings travel with it."""
    schemas = SchemaSet(local_dirs)
    ctx = rules_webhook.RuleContext.of(stack, resources)
    out: list[Diagnostic] = []
    missing: set[tuple[str, str]] = set()
    for r in resources:
        for code, path, msg, sev in check_one(r, r.body, stack, schemas, ctx, missing):
            out.append(Diagnostic(code, f"{r.id}: {fmt_path(path)}: {msg}" if path else f"{r.id}: {msg}",
                                  r.origin, hint=_provenance(r, path), severity=sev))
    return out


Finding = tuple[str, PathT, str, Severity]


def check_one(r: Resource, body: dict[str, Any], stack: Stack, schemas: SchemaSet,
              ctx: rules_webhook.RuleContext, missing: set[tuple[str, str]], prefix: PathT = ()) -> Iterator[Finding]:
    api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
    look = schemas.lookup(stack, api_version, kind)
    ks = look.schema
    if ks is None:
        if (api_version, kind) not in missing:
            missing.add((api_version, kind))
            yield ("KF403", prefix, f"not checked: {look.why}", Severity.WARNING)
    else:
        for n, (path, msg) in enumerate(schema_errors(ks, body), 1):
            if n > MAX_ERRORS_PER_RESOURCE:
                yield "KF401", prefix, "more schema errors not shown", Severity.ERROR
                break
            yield "KF401", (*prefix, *path), msg, Severity.ERROR
        for code, path, msg in _rules(ks).violations(body):
            yield code, (*prefix, *path), msg, Severity.ERROR
    nested = r if not prefix else Resource(body=body, origin=r.origin)
    for path, msg in rules_webhook.check(nested, ctx, body):
        if prefix and path[:2] == ("metadata", "name"):
            continue  # an embedded object gets its name from its owner
        yield "KF402", (*prefix, *path), msg, Severity.ERROR
    if kind == "Experiment" and not prefix:
        trial = _at(body, TRIAL_SPEC)
        if isinstance(trial, dict) and "kind" in trial:
            yield from _check_trial(r, trial, stack, schemas, ctx, missing)


_RULES: dict[tuple[str, str], rules_cel.Rules] = {}


def _rules(ks: KindSchema) -> rules_cel.Rules:
    k = (ks.key, ks.version)
    if k not in _RULES:
        _RULES[k] = rules_cel.Rules(ks.rules, ks.list_maps)
    return _RULES[k]


def _check_trial(r: Resource, trial: dict[str, Any], stack: Stack, schemas: SchemaSet,
                 ctx: rules_webhook.RuleContext, missing: set[tuple[str, str]]) -> Iterator[Finding]:
    """Katib fills metadata.name and substitutes ${trialParameters.x}; the rest must already be valid."""
    meta = {**(trial.get("metadata") or {}), "name": "trial"}
    if r.namespace and "namespace" not in meta:
        meta["namespace"] = r.namespace  # trials run in their experiment's namespace
    filled = dict(trial, metadata=meta)
    for code, path, msg, sev in check_one(r, filled, stack, schemas, ctx, missing, TRIAL_SPEC):
        value = _at(filled, path[len(TRIAL_SPEC):])
        if isinstance(value, str) and "${trialParameters." in value:
            continue  # a placeholder stands where the trial's value will go
        yield code, path, msg, sev


def _at(body: Any, path: Iterable[str | int]) -> Any:
    for p in path:
        if isinstance(body, list) and isinstance(p, int):
            body = body[p] if 0 <= p < len(body) else None
        else:
            body = body.get(p) if isinstance(body, dict) else None
    return body


def schema_errors(ks: KindSchema, body: Any) -> list[tuple[PathT, str]]:
    """The schema's errors for `body`, each with its path; [] when valid (the fast path)."""
    import fastjsonschema

    try:
        compiled(ks)(body)
        return []
    except fastjsonschema.JsonSchemaValueException:
        pass
    errors = sorted(detailed(ks).iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    out: list[tuple[PathT, str]] = []
    for e in errors:
        out.extend(_explain_error(e))
    return list(dict.fromkeys(out))


def _explain_error(e: Any) -> Iterator[tuple[PathT, str]]:
    path: PathT = tuple(e.absolute_path)
    inst, v, schema = e.instance, e.validator, e.schema
    if v == "additionalProperties" and isinstance(inst, dict):
        props = schema.get("properties", {})
        for k in sorted(set(inst) - set(props)):
            close = difflib.get_close_matches(k, list(props), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield (*path, k), f"unknown field{hint}; expected one of {', '.join(sorted(props)) or 'no fields'}"
    elif v == "required" and isinstance(inst, dict):
        for k in schema.get("required", []):
            if k not in inst:
                yield (*path, k), "missing required field"
    elif v == "type":
        want = e.validator_value if isinstance(e.validator_value, str) else " or ".join(e.validator_value)
        yield path, f"expected {_article(want)}, got {_got(inst)}"
    elif v == "enum":
        yield path, f"expected one of {', '.join(map(repr, e.validator_value))}, got {describe(inst)}"
    elif v == "pattern":
        yield path, f"expected a string matching {e.validator_value}, got {describe(inst)}"
    elif v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}[v]
        yield path, f"expected a number {op} {e.validator_value}, got {describe(inst)}"
    elif v in ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"):
        what = {"Length": "characters", "Items": "items", "Properties": "fields"}[v[3:]]
        op = "at least" if v.startswith("min") else "at most"
        yield path, f"expected {op} {e.validator_value} {what}, got {len(inst)}"
    elif v in ("anyOf", "oneOf") and all(c.validator == "type" for c in e.context or ()):
        want = " or ".join(sorted({c.validator_value for c in e.context if isinstance(c.validator_value, str)}))
        yield path, f"expected {_article(want)}, got {_got(inst)}"
    elif v == "uniqueItems":
        yield path, "expected unique items, got duplicates"
    else:
        yield path, str(e.message)


def _article(t: str) -> str:
    return ("an " if t[:1] in "aeiou" else "a ") + t if " or " not in t else t


def _got(v: Any) -> str:
    """'string 'two'', 'integer 3', 'a mapping': what was found, with its JSON type where it helps."""
    for t, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(v, t):
            return f"{name} {describe(v)}"
    return describe(v)


def _provenance(r: Resource, path: PathT) -> str | None:
    """Where the offending value came from, when the renderer said (the --explain table)."""
    if not r.explain or not path:
        return None
    keys = _explain_keys(path)
    for i in range(len(keys), 0, -1):
        src = r.explain.get(keys[i - 1])
        if src:
            return f"the value comes from {src}"
    return None


def _explain_keys(path: PathT) -> list[str]:
    """'spec.trainer.env[0]' for each prefix of the path (the keys Resource.explain uses)."""
    return [fmt_path(path[:i]) for i in range(1, len(path) + 1)]


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diags)
