"""The editor schema of ml-project.yaml: JSON Schema draft-07, generated from the pydantic model.

yaml-language-server understands draft-07; pydantic emits 2020-12, so `$defs` become `definitions`
and the few 2020-12-only forms are rewritten. The output is checked in at schemas/ and shipped in
the wheel; a test fails when it is stale.
"""

from __future__ import annotations

import json
from typing import Any

from kfconf.spec.model import MLProject

SCHEMA_ID = "https://kfconf.dev/schemas/v1alpha1/ml-project.schema.json"


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out[k] = v.replace("#/$defs/", "#/definitions/")
            elif k == "$defs":
                out["definitions"] = _rewrite(v)
            elif k == "const" and "enum" not in node:
                out["enum"] = [v]
            elif k == "prefixItems":
                out["items"] = _rewrite(v)
            else:
                out[k] = _rewrite(v)
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def schema() -> dict[str, Any]:
    raw = MLProject.model_json_schema(by_alias=True, mode="validation")
    out = {"$schema": "http://json-schema.org/draft-07/schema#", "$id": SCHEMA_ID, **_rewrite(raw)}
    out["title"] = "kfconf MLProject v1alpha1"
    return out


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
