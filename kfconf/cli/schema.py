"""`kfconf schema`: print the JSON Schema of ml-project.yaml (draft-07, for yaml-language-server)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add(sub: Any) -> None:
    sub.add_parser("schema", help="print the JSON Schema of ml-project.yaml")


def run(args: argparse.Namespace) -> int:
    from kfconf.spec.jsonschema import schema_text

    sys.stdout.write(schema_text())
    return 0
