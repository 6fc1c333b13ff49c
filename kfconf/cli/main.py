"""`kfconf` entry point. Exit 0 clean, 1 findings, 2 could not run; no traceback unless --debug."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from kfconf import __version__
from kfconf.core.errors import FindingsError, KfconfError

# verb → module; each module has add(subparsers) and run(args) -> int, and imports heavy things lazily.
VERBS: dict[str, str] = {
    "init": "kfconf.cli.init",
    "validate": "kfconf.cli.validate",
    "build": "kfconf.cli.build",
    "schema": "kfconf.cli.schema",
    "schemas": "kfconf.cli.schemas",
    "diff": "kfconf.cli.diff",
    "check": "kfconf.cli.check",
    "run": "kfconf.cli.run",
    "registry": "kfconf.cli.registry",
    "publish": "kfconf.cli.publish",
    "sync": "kfconf.cli.sync",
    "status": "kfconf.cli.status",
    "syncer": "kfconf.cli.syncer",
}


def parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; given the verb being run, only that verb's module is imported (start-up time)."""
    p = argparse.ArgumentParser(prog="kfconf", description="GitOps configuration compiler for ML projects on Kubeflow.")
    p.add_argument("--version", action="version", version=f"kfconf {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="verb", metavar="COMMAND")
    for name, mod in VERBS.items():
        if verb is None or name == verb:
            importlib.import_module(mod).add(sub)
    return p


def _verb(argv: Sequence[str]) -> str | None:
    """The verb of a command line, when it is plain (no top-level help before it, a known name)."""
    for a in argv:
        if a in VERBS:
            return a
        if a in ("-h", "--help") or not a.startswith("-"):
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser(_verb(argv)).parse_args(argv)
    if not args.verb:
        parser().print_help(sys.stderr)
        return 2
    from kfconf.cli.common import print_diagnostics

    module = importlib.import_module(VERBS[args.verb])
    try:
        return int(module.run(args))
    except FindingsError as e:
        print_diagnostics(e.diagnostics)
        return e.exit_code
    except KfconfError as e:
        if args.debug:
            raise
        print(f"kfconf: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # an internal error: say so plainly, never dump a traceback on users
        if args.debug:
            raise
        print(f"kfconf: internal error: {type(e).__name__}: {e} (run with --debug for details)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
