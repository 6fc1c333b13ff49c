"""Semantic check helpers shared by the component slices."""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from kfconf.core.errors import Diagnostic, Severity
from kfconf.core.source import PathT
from kfconf.spec.project import Project
from kfconf.spec.secrets import SECRET_INSIDE, SECRET_NAME, SECRET_VALUE
from kfconf.spec.types import SecretRef

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_CRON_ITEM = r"(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?"
CRON_FIELD = re.compile(rf"^{_CRON_ITEM}(,{_CRON_ITEM})*$")
CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def is_literal_secret(name: str, value: Any) -> bool:
    if isinstance(value, SecretRef) or not isinstance(value, str) or not value:
        return False
    return bool(SECRET_NAME.search(name)) or bool(SECRET_VALUE.match(value))


def _pasted(value: Any, path: PathT, found: list[PathT]) -> None:
    """The paths of strings below `value` that look like a credential (a recursive function, not a
    closure: a closure calling itself is a reference cycle left for the garbage collector)."""
    if isinstance(value, str):
        if SECRET_INSIDE.search(value):
            found.append(path)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "env" and not isinstance(v, bool | int | float | None):
                _pasted(v, (*path, k), found)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _pasted(v, (*path, i), found)


def credentials_in(project: Project, part: PathT) -> list[Diagnostic]:
    """A credential pasted anywhere in a part of the spec (args, commands, URIs with a password) is
    refused: it would land in Git, in pod specs and in PR comments. `env` values are judged by env_checks."""
    found: list[PathT] = []
    _pasted(project.raw_at(*part), part, found)  # type: ignore[arg-type]
    return [Diagnostic("KF208", "expected no credentials in the spec, got what looks like one", project.loc(p), p,
                       hint="keep it in a Secret and reference it from env: {NAME: {secret: S, key: K}}")
            for p in found]


def env_checks(project: Project, path: PathT, env: dict[str, Any], reserved: frozenset[str] = frozenset()
               ) -> Iterator[Diagnostic]:
    for name, value in env.items():
        p = (*path, name)
        if not ENV_NAME.match(name):
            yield Diagnostic("KF108", f"expected an environment variable name, got {name!r}", project.loc(p), p)
        if name in reserved:
            yield Diagnostic("KF206", f"expected a name the platform does not set, got {name!r}", project.loc(p), p,
                             hint="the Kubeflow runtime sets this variable itself")
        if is_literal_secret(name, value):
            # the value itself is never echoed: it may be a real credential
            yield Diagnostic("KF208", "expected a reference to a Secret, got a literal value", project.loc(p), p,
                             hint=f"use `{name}: {{secret: NAME, key: KEY}}` and keep the value in a Secret")


def image_check(project: Project, path: PathT, ref: str | None, known: dict[str, str] | None = None
                ) -> Iterator[Diagnostic]:
    """An image is a name from spec.images (or the stack's images) or a full reference."""
    if ref is None:
        return
    if project.has_image(ref) or (known and ref in known):
        return
    if "/" in ref or ":" in ref or "@" in ref:
        return
    names = sorted({*project.images, *(known or {})})
    close = difflib.get_close_matches(ref, names, n=1)
    yield Diagnostic("KF201", f"expected a named image or a full image reference, got {ref!r}", project.loc(path),
                     path, hint=f"did you mean '{close[0]}'?" if close else
                     f"named images: {', '.join(names) or 'none'}; or write a full reference, e.g. "
                     "ghcr.io/org/img:tag")


def cron_check(project: Project, path: PathT, schedule: str | None) -> Iterator[Diagnostic]:
    if schedule is None:
        return
    s = schedule.strip()
    if s in CRON_MACROS or re.match(r"^@every \d+(ms|s|m|h)+$", s):
        return
    fields = s.split()
    if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
        yield Diagnostic("KF108", f"expected a 5-field cron schedule such as '0 2 * * *', got {schedule!r}",
                         project.loc(path), path)


@lru_cache(maxsize=1024)
def _real(folder: Path) -> Path:
    """A project folder's real path: resolved once per folder, not once per file the spec names."""
    return folder.resolve()


def _plain_exists(root: Path, rel: str) -> bool | None:
    """Whether ROOT/REL exists, for a relative REL without '..' and without symlinks on the way (it then
    cannot leave ROOT, so no resolve is needed); None when REL needs the full resolve."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or ".." in parts:
        return None
    cur = str(root)
    for part in parts:
        if part in ("", "."):
            continue
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return None
    return True


def _file_state(root: Path, rel: str) -> str:
    """"inside" (an existing file or folder), "missing" (inside, not there) or "outside" the project."""
    found = _plain_exists(root, rel)
    if found is not None:  # plainly inside the project: only existence is in question
        return "inside" if found else "missing"
    candidate = Path(rel)
    target = (root / candidate).resolve()
    if candidate.is_absolute() or not target.is_relative_to(root):
        return "outside"
    return "inside" if target.exists() else "missing"


def project_file(project: Project, path: PathT, rel: str, must_exist: bool = True) -> Iterator[Diagnostic]:
    """A file the spec names must stay inside the project folder (no ../, absolute paths or symlinks out)."""
    if "://" in rel:
        return
    key = ("file", rel)  # asked once per validation run of the project, not once per environment
    state = project.facts.get(key)
    if state is None:
        state = project.facts[key] = _file_state(_real(project.dir), rel)
    if state == "outside":
        yield Diagnostic("KF207", f"expected a path inside the project, got {rel!r}", project.loc(path), path,
                         hint="paths are relative to the folder of ml-project.yaml and may not leave it")
    elif state == "missing" and must_exist:
        yield Diagnostic("KF210", f"expected an existing file, got {rel!r}", project.loc(path), path,
                         severity=Severity.WARNING)


def warn(code: str, message: str, project: Project, path: PathT, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, project.loc(path), path, hint=hint, severity=Severity.WARNING)
