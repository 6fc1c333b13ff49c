"""Environment of local steps: secrets and config maps, `--key value` arguments, path mapping, templates.

Secret references (`{secret: NAME, key: KEY}`) resolve, in order, from
  1. `.kfconf/secrets.yaml` in the project: `NAME: {KEY: value}` (keep it out of git),
  2. the variable `KFCONF_SECRET_<NAME>_<KEY>` (upper case, other characters → `_`),
  3. the target variable itself when it is already set in kfconf's environment.
Config map references resolve the same way from `.kfconf/configmaps.yaml` and `KFCONF_CONFIGMAP_…`.
An unresolved reference leaves the variable unset and is reported (by name, never by value).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfconf.core.errors import Diagnostic, FindingsError
from kfconf.local.runs import state_dir

LOOPBACK = "127.0.0.1"


def _var(prefix: str, name: str, key: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", f"{name}_{key}").upper()


def _load_yaml_map(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise FindingsError([Diagnostic("KF001", f"{path.name}{line}: YAML syntax error", hint=str(path))])
    if not isinstance(doc, dict):
        raise FindingsError([Diagnostic("KF006", f"{path}: expected a mapping NAME: {{KEY: value}}")])
    out: dict[str, dict[str, str]] = {}
    for name, keys in doc.items():
        if isinstance(keys, dict):
            out[str(name)] = {str(k): "" if v is None else str(v) for k, v in keys.items()}
    return out


@dataclass
class Secrets:
    """Local stand-ins for the Kubernetes Secrets and ConfigMaps an entry references."""

    project_dir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _secrets: dict[str, dict[str, str]] | None = None
    _configmaps: dict[str, dict[str, str]] | None = None
    used: set[str] = field(default_factory=set)
    """Secret values handed out so far: logs redact them."""

    def secret(self, name: str, key: str) -> str | None:
        if self._secrets is None:
            self._secrets = _load_yaml_map(state_dir(self.project_dir) / "secrets.yaml")
        value = self._secrets.get(name, {}).get(key)
        if value is None:
            value = self.environ.get(_var("KFCONF_SECRET_", name, key))
        if value is not None:
            self.used.add(value)
        return value

    def configmap(self, name: str, key: str) -> str | None:
        if self._configmaps is None:
            self._configmaps = _load_yaml_map(state_dir(self.project_dir) / "configmaps.yaml")
        value = self._configmaps.get(name, {}).get(key)
        return value if value is not None else self.environ.get(_var("KFCONF_CONFIGMAP_", name, key))

    def resolve_env(self, env: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
        """The entry's env as strings, and a note per reference that could not be resolved."""
        out: dict[str, str] = {}
        missing: list[str] = []
        for var, value in env.items():
            kind = type(value).__name__
            if kind == "SecretRef":
                v = self.secret(value.secret, value.key)
                if v is None and var in self.environ:
                    v = self.environ[var]
                    self.used.add(v)
                if v is None:
                    missing.append(f"{var} (secret {value.secret}/{value.key}): add it to .kfconf/secrets.yaml "
                                   f"or set {_var('KFCONF_SECRET_', value.secret, value.key)}")
                    continue
                out[var] = v
            elif kind == "ConfigMapRef":
                v = self.configmap(value.config_map, value.key)
                if v is None:
                    missing.append(f"{var} (config map {value.config_map}/{value.key}): add it to "
                                   f".kfconf/configmaps.yaml or set "
                                   f"{_var('KFCONF_CONFIGMAP_', value.config_map, value.key)}")
                    continue
                out[var] = v
            else:
                out[var] = fmt_value(value)
        return out, missing


def fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return str(value)


def render_args(args: Mapping[str, Any] | list[str], overrides: Mapping[str, Any] | None = None) -> list[str]:
    """Entry args as the Trainer passes them: a mapping becomes `--key value` in spec order.

    `overrides` (tuning parameters, pipeline step params) replace the value of the same key; in a list
    form they substitute `${trialParameters.NAME}` and `{{ params.NAME }}`; keys not present are appended
    as `--key value`.
    """
    over = dict(overrides or {})
    out: list[str] = []
    if isinstance(args, Mapping):
        for k, v in args.items():
            out += [f"--{k}", fmt_value(over.pop(k, v))]
    else:
        for a in args:
            s = str(a)
            for k in list(over):
                for pat in (f"${{trialParameters.{k}}}", f"{{{{ params.{k} }}}}", f"{{{{params.{k}}}}}"):
                    if pat in s:
                        s = s.replace(pat, fmt_value(over[k]))
            out.append(s)
        used = {k for k in over if any(f"trialParameters.{k}}}" in str(a) or f"params.{k}" in str(a) for a in args)}
        for k in used:
            over.pop(k, None)
        for i, tok in enumerate(out):  # `--key value` pairs already in a list: replace the value
            if tok.startswith("--") and tok[2:] in over and i + 1 < len(out):
                out[i + 1] = fmt_value(over.pop(tok[2:]))
    for k, v in over.items():
        out += [f"--{k}", fmt_value(v)]
    return out


_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")


def expand(text: str, values: Mapping[str, Any]) -> str:
    """`{{ run.id }}`, `{{ run.date }}`, `{{ params.NAME }}`; unknown names stay as written."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return fmt_value(values[name]) if name in values else m.group(0)

    return _TEMPLATE.sub(sub, text)


@dataclass
class PathMap:
    """Container paths → local folders, applied to arguments and environment values by prefix."""

    prefixes: dict[str, Path] = field(default_factory=dict)

    def add(self, container: str, local: Path) -> None:
        self.prefixes[container.rstrip("/") or "/"] = local

    def map(self, value: str) -> str:
        for prefix in sorted(self.prefixes, key=len, reverse=True):
            local = self.prefixes[prefix]
            if value == prefix or value.startswith(prefix + "/"):
                return str(local) + value[len(prefix):]
            for lead in ("=",):  # --flag=/workspace/model
                head, sep, tail = value.partition(lead)
                if sep and (tail == prefix or tail.startswith(prefix + "/")):
                    return head + sep + str(local) + tail[len(prefix):]
        return value

    def map_all(self, values: list[str]) -> list[str]:
        return [self.map(v) for v in values]


def loopback_env() -> dict[str, str]:
    """Variables that keep every engine on 127.0.0.1 (see local-exec.md, loopback caveats)."""
    return {
        "SPARK_LOCAL_IP": LOOPBACK,
        "GLOO_SOCKET_IFNAME": "lo",
        "TP_SOCKET_IFNAME": "lo",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONUNBUFFERED": "1",
    }
