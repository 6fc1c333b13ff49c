"""Diagnostics and the one error tree.

    KfconfError                      anything kfconf reports instead of a traceback
    ├── FindingsError   (exit 1)     the input has problems; carries every Diagnostic found
    └── RunError        (exit 2)     kfconf could not run
        ├── UsageError               wrong command-line use
        ├── ExternalError            git, the cluster, a subprocess or the file system failed
        └── EngineMissing            a local run needs the [local] extra

Codes are stable; their meaning never changes once released. The table of codes is `CODES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from kfconf.core.source import Loc, PathT, fmt_path

CODES: dict[str, str] = {
    # load
    "KF001": "YAML syntax error",
    "KF002": "duplicate key",
    "KF003": "document too large or too deeply nested (aliases, nesting, size)",
    "KF004": "file is not valid UTF-8 text",
    "KF005": "file cannot be read",
    "KF006": "document has the wrong shape",
    "KF007": "number out of range or not finite",
    # schema
    "KF101": "unknown key",
    "KF102": "missing required key",
    "KF103": "wrong type",
    "KF104": "value out of range",
    "KF105": "value not allowed",
    "KF106": "invalid Kubernetes name",
    "KF107": "duplicate entry name",
    "KF108": "invalid format",
    # references and semantics
    "KF201": "reference to an entry that does not exist",
    "KF202": "cycle in a pipeline",
    "KF203": "GPUs requested where they cannot be used",
    "KF204": "tuning parameter the trial never uses",
    "KF205": "inconsistent settings",
    "KF206": "reserved name or environment variable",
    "KF207": "path escapes the project",
    "KF208": "literal secret value",
    "KF209": "namespace not allowed for this project",
    "KF210": "file referenced by the spec is missing",
    # environments, overlays, stacks
    "KF301": "unknown environment",
    "KF302": "cycle in overlay or stack extends",
    "KF303": "unknown built-in overlay or stack",
    "KF304": "invalid $patch directive",
    "KF305": "stack does not support this feature",
    # output check
    "KF401": "generated resource rejected by its schema",
    "KF402": "generated resource breaks an upstream rule",
    "KF403": "no schema for a generated kind",
    # policy (kfconf check)
    "KF501": "policy violation",
    "KF502": "invalid policy file",
    "KF503": "policy exemption without a reason",
    "KF504": "policy exemption that matches nothing",
    "KF510": "image not pinned by digest in a production environment",
    "KF511": "image with :latest or no tag",
    "KF512": "compute requests and limits not set",
    "KF513": "GPU requests exceed the profile quota",
    "KF514": "project without an owner",
    "KF515": "literal secret value in the spec or its output",
    "KF516": "production serving with fewer than two replicas",
    "KF517": "tuning budget unbounded or too large",
    "KF518": "CPU or memory requests exceed the profile quota",
    "KF519": "production training without a time limit",
    # publish and sync
    "KF601": "publish failed",
    "KF602": "sync failed",
    "KF603": "tenant lockdown refused an object",
    "KF604": "missing CRD on the cluster",
    "KF605": "field manager conflict",
    "KF606": "commit not signed by an allowed key",
    "KF607": "object exists and is not managed by kfconf",
    "KF608": "live object drifted from git",
    "KF609": "source is empty: refusing to prune everything",
    # local run
    "KF701": "local run failed",
    "KF702": "no local equivalent",
}


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, at one place: `FILE:LINE:COL: error[CODE] path: message`."""

    code: str
    message: str
    loc: Loc | None = None
    path: PathT = ()
    hint: str | None = None
    severity: Severity = Severity.ERROR

    def render(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        subject = f"{fmt_path(self.path)}: " if self.path else ""
        text = f"{where}{self.severity.value}[{self.code}] {subject}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def sort_key(self) -> tuple[str, int, int, str, str, str]:
        """Place, then code, path and message: ties must not fall back on set order (hash seeds vary)."""
        loc = self.loc
        where = (loc.file, loc.line, loc.col) if loc else ("", 0, 0)
        return (*where, self.code, fmt_path(self.path) if self.path else "", self.message)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "path": fmt_path(self.path) if self.path else None,
        }
        if self.loc:
            out.update(file=self.loc.file, line=self.loc.line, column=self.loc.col)
        if self.hint:
            out["hint"] = self.hint
        return out


def expected_got(expected: str, got: str) -> str:
    return f"expected {expected}, got {got}"


class KfconfError(Exception):
    """Root of every error kfconf reports to a user."""

    exit_code = 2


class FindingsError(KfconfError):
    """The input has problems: all of them, sorted by place."""

    exit_code = 1

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(set(diagnostics), key=Diagnostic.sort_key)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class RunError(KfconfError):
    """kfconf could not run (exit 2)."""

    exit_code = 2


class UsageError(RunError):
    pass


class ExternalError(RunError):
    pass


class EngineMissing(RunError):
    pass


@dataclass
class Collector:
    """Gathers diagnostics across stages so that one run reports every problem."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, d: Diagnostic) -> None:
        self.items.append(d)

    def extend(self, ds: Iterable[Diagnostic]) -> None:
        self.items.extend(ds)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise FindingsError(self.items)
