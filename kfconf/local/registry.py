"""The local model registry: SQLite in `.kfconf/registry.db`, with the Kubeflow Model Registry's concepts.

    RegisteredModel 1─n ModelVersion 1─n ModelArtifact

Fields and JSON names follow the Model Registry REST API (v1alpha3): `id` (string), `name`, `description`,
`owner`, `state` (LIVE|ARCHIVED), `externalId`, `customProperties` (typed values: `{"metadataType":
"MetadataStringValue", "string_value": "…"}`), `createTimeSinceEpoch` / `lastUpdateTimeSinceEpoch`
(milliseconds, as strings); a ModelVersion has `registeredModelId` and `author`; a ModelArtifact has
`artifactType: "model-artifact"`, `uri`, `modelFormatName`, `modelFormatVersion`, `storageKey`,
`storagePath`, `serviceAccountName`, `modelVersionId` (kfconf's link; the REST API nests artifacts under
`/model_versions/{id}/artifacts`).

Registering a version that exists updates its artifact (a local re-run replaces the model it points at);
the version's `customProperties` record how many times it was registered.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kfconf.local.runs import state_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS registered_models (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  owner TEXT,
  state TEXT NOT NULL DEFAULT 'LIVE' CHECK (state IN ('LIVE', 'ARCHIVED')),
  external_id TEXT,
  custom_properties TEXT NOT NULL DEFAULT '{}',
  create_time_since_epoch INTEGER NOT NULL,
  last_update_time_since_epoch INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS model_versions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  registered_model_id INTEGER NOT NULL REFERENCES registered_models(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  author TEXT,
  state TEXT NOT NULL DEFAULT 'LIVE' CHECK (state IN ('LIVE', 'ARCHIVED')),
  external_id TEXT,
  custom_properties TEXT NOT NULL DEFAULT '{}',
  create_time_since_epoch INTEGER NOT NULL,
  last_update_time_since_epoch INTEGER NOT NULL,
  UNIQUE (registered_model_id, name)
);
CREATE TABLE IF NOT EXISTS model_artifacts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model_version_id INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  uri TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'LIVE',
  model_format_name TEXT,
  model_format_version TEXT,
  storage_key TEXT,
  storage_path TEXT,
  service_account_name TEXT,
  description TEXT NOT NULL DEFAULT '',
  external_id TEXT,
  custom_properties TEXT NOT NULL DEFAULT '{}',
  create_time_since_epoch INTEGER NOT NULL,
  last_update_time_since_epoch INTEGER NOT NULL
);
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


def typed(value: Any) -> dict[str, Any]:
    """A custom property value in the REST API's typed form."""
    if isinstance(value, bool):
        return {"metadataType": "MetadataBoolValue", "bool_value": value}
    if isinstance(value, int):
        return {"metadataType": "MetadataIntValue", "int_value": str(value)}
    if isinstance(value, float):
        return {"metadataType": "MetadataDoubleValue", "double_value": value}
    return {"metadataType": "MetadataStringValue", "string_value": str(value)}


def untyped(value: Mapping[str, Any]) -> Any:
    kind = value.get("metadataType")
    if kind == "MetadataBoolValue":
        return bool(value.get("bool_value"))
    if kind == "MetadataIntValue":
        return int(value.get("int_value", 0))
    if kind == "MetadataDoubleValue":
        return float(value.get("double_value", 0.0))
    return value.get("string_value")


def _props(raw: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw or "{}")
    except ValueError:
        return {}
    return {k: typed(v) for k, v in doc.items()}


def _common(row: sqlite3.Row) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(row["id"]),
        "name": row["name"],
        "description": row["description"],
        "state": row["state"],
        "customProperties": _props(row["custom_properties"]),
        "createTimeSinceEpoch": str(row["create_time_since_epoch"]),
        "lastUpdateTimeSinceEpoch": str(row["last_update_time_since_epoch"]),
    }
    if row["external_id"]:
        out["externalId"] = row["external_id"]
    return out


def _model(row: sqlite3.Row) -> dict[str, Any]:
    out = _common(row)
    if row["owner"]:
        out["owner"] = row["owner"]
    return out


def _version(row: sqlite3.Row) -> dict[str, Any]:
    out = _common(row)
    out["registeredModelId"] = str(row["registered_model_id"])
    if row["author"]:
        out["author"] = row["author"]
    return out


def _artifact(row: sqlite3.Row) -> dict[str, Any]:
    out = _common(row)
    out["artifactType"] = "model-artifact"
    out["modelVersionId"] = str(row["model_version_id"])
    out["uri"] = row["uri"]
    for col, key in (("model_format_name", "modelFormatName"), ("model_format_version", "modelFormatVersion"),
                     ("storage_key", "storageKey"), ("storage_path", "storagePath"),
                     ("service_account_name", "serviceAccountName")):
        if row[col]:
            out[key] = row[col]
    return out


class RegistryStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_project(cls, project_dir: Path) -> RegistryStore:
        return cls(state_dir(project_dir) / "registry.db")

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if not write and not self.path.exists():
            con = sqlite3.connect(":memory:")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=30)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA foreign_keys = ON")
            con.executescript(SCHEMA)
            if write:
                con.execute("BEGIN IMMEDIATE")
            yield con
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()

    # -- write -------------------------------------------------------------------------------------
    def register(self, name: str, version: str, uri: str, *, format_name: str | None = None,
                 format_version: str | None = None, description: str = "", author: str | None = None,
                 owner: str | None = None, metadata: Mapping[str, Any] | None = None,
                 artifact_properties: Mapping[str, Any] | None = None,
                 model_description: str | None = None) -> tuple[dict[str, Any], str]:
        """Register `uri` as version `version` of model `name`; returns (the version with its model and
        artifact, what happened: "created", "updated" or "unchanged")."""
        now = _now_ms()
        art_meta = json.dumps(dict(artifact_properties or {}), sort_keys=True)
        with self._db(write=True) as db:
            row = db.execute("SELECT * FROM registered_models WHERE name = ?", (name,)).fetchone()
            if row is None:
                cur = db.execute(
                    "INSERT INTO registered_models (name, description, owner, create_time_since_epoch, "
                    "last_update_time_since_epoch) VALUES (?, ?, ?, ?, ?)",
                    (name, model_description or description, owner, now, now))
                model_id = cur.lastrowid
            else:
                model_id = row["id"]
                if owner and row["owner"] != owner:
                    db.execute("UPDATE registered_models SET owner = ?, last_update_time_since_epoch = ? "
                               "WHERE id = ?", (owner, now, model_id))
            vrow = db.execute("SELECT * FROM model_versions WHERE registered_model_id = ? AND name = ?",
                              (model_id, version)).fetchone()
            if vrow is None:
                props = dict(metadata or {})
                props["kfconf.registrations"] = 1
                cur = db.execute(
                    "INSERT INTO model_versions (registered_model_id, name, description, author, "
                    "custom_properties, create_time_since_epoch, last_update_time_since_epoch) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (model_id, version, description, author, json.dumps(props, sort_keys=True), now, now))
                version_id = cur.lastrowid
                db.execute(
                    "INSERT INTO model_artifacts (model_version_id, name, uri, model_format_name, "
                    "model_format_version, description, custom_properties, create_time_since_epoch, "
                    "last_update_time_since_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (version_id, f"{name}-{version}", uri, format_name, format_version, description, art_meta,
                     now, now))
                db.execute("UPDATE registered_models SET last_update_time_since_epoch = ? WHERE id = ?",
                           (now, model_id))
                what = "created"
            else:
                version_id = vrow["id"]
                arow = db.execute("SELECT * FROM model_artifacts WHERE model_version_id = ? ORDER BY id DESC",
                                  (version_id,)).fetchone()
                old_props = json.loads(vrow["custom_properties"] or "{}")
                new_props = {**dict(metadata or {}),
                             "kfconf.registrations": int(old_props.get("kfconf.registrations", 1))}
                same = (arow is not None and arow["uri"] == uri and arow["model_format_name"] == format_name
                        and arow["model_format_version"] == format_version and arow["custom_properties"] == art_meta
                        and vrow["description"] == description and vrow["author"] == author
                        and {k: v for k, v in old_props.items() if k != "kfconf.registrations"}
                        == dict(metadata or {}))
                if same:
                    what = "unchanged"
                else:
                    new_props["kfconf.registrations"] += 1
                    db.execute("UPDATE model_versions SET description = ?, author = ?, custom_properties = ?, "
                               "last_update_time_since_epoch = ? WHERE id = ?",
                               (description, author, json.dumps(new_props, sort_keys=True), now, version_id))
                    if arow is None:
                        db.execute(
                            "INSERT INTO model_artifacts (model_version_id, name, uri, model_format_name, "
                            "model_format_version, description, custom_properties, create_time_since_epoch, "
                            "last_update_time_since_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (version_id, f"{name}-{version}", uri, format_name, format_version, description,
                             art_meta, now, now))
                    else:
                        db.execute("UPDATE model_artifacts SET uri = ?, model_format_name = ?, "
                                   "model_format_version = ?, description = ?, custom_properties = ?, "
                                   "last_update_time_since_epoch = ? WHERE id = ?",
                                   (uri, format_name, format_version, description, art_meta, now, arow["id"]))
                    db.execute("UPDATE registered_models SET last_update_time_since_epoch = ? WHERE id = ?",
                               (now, model_id))
                    what = "updated"
        found = self.version(name, version)
        assert found is not None
        return found, what

    # -- read --------------------------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """Every registered model with its versions (newest last) and their artifacts."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM registered_models ORDER BY name").fetchall()
            return [self._full(db, r) for r in rows]

    def model(self, name: str) -> dict[str, Any] | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM registered_models WHERE name = ?", (name,)).fetchone()
            return self._full(db, row) if row is not None else None

    def version(self, name: str, version: str | None = None) -> dict[str, Any] | None:
        """A version (the newest when `version` is None) with `registeredModel` and `artifacts`."""
        m = self.model(name)
        if m is None or not m["versions"]:
            return None
        versions = m["versions"]
        if version is None:
            return {**max(versions, key=lambda v: (int(v["lastUpdateTimeSinceEpoch"]), int(v["id"]))),
                    "registeredModel": {k: v for k, v in m.items() if k != "versions"}}
        for v in versions:
            if v["name"] == version:
                return {**v, "registeredModel": {k: x for k, x in m.items() if k != "versions"}}
        return None

    @staticmethod
    def _full(db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        m = _model(row)
        versions = []
        for v in db.execute("SELECT * FROM model_versions WHERE registered_model_id = ? ORDER BY id",
                            (row["id"],)).fetchall():
            ver = _version(v)
            ver["artifacts"] = [_artifact(a) for a in db.execute(
                "SELECT * FROM model_artifacts WHERE model_version_id = ? ORDER BY id", (v["id"],)).fetchall()]
            versions.append(ver)
        m["versions"] = versions
        return m
