"""How stored service documents look on the wire."""

from __future__ import annotations

import re

from .timefmt import rfc3339

# Local NVMe in GiB, modelled on the docs' pairs (r6gd.medium: 59, r8gd.large: 118); an AWS
# "<n>xlarge" has n times the xlarge disk, a GCP "<family>-<n>" about 59 GiB per vCPU.
_STORAGE_BY_SUFFIX = {"medium": 59, "large": 118, "xlarge": 237}


def storage_size(size: str) -> int:
    suffix = re.split(r"[.-]", size)[-1]
    if suffix in _STORAGE_BY_SUFFIX:
        return _STORAGE_BY_SUFFIX[suffix]
    if suffix.endswith("xlarge") and suffix[:-6].isdigit():
        return 237 * int(suffix[:-6])
    return 59 * int(suffix) if suffix.isdigit() else 118


def connection_string(doc: dict) -> str:
    return f"postgres://postgres:{doc['password']}@{doc['host']}:{doc['port']}/postgres?channel_binding=require"


def list_item(doc: dict) -> dict:
    return {
        "id": doc["id"],
        "name": doc["name"],
        "provider": doc["provider"],
        "region": doc["region"],
        "postgresVersion": doc["postgresVersion"],
        "size": doc["size"],
        "storageSize": storage_size(doc["size"]),
        "haType": doc["haType"],
        "tags": doc["tags"],
        "isPrimary": doc["isPrimary"],
        "state": doc["state"],
        "createdAt": doc["createdAt"],
    }


def service(doc: dict, *, credentials: bool, earliest_restore: float | None) -> dict:
    """The full object, in the order of the docs' examples, then the live API's fields;
    credentials only when allowed."""
    item = list_item(doc)
    view = {key: item[key] for key in ("id", "name", "provider", "region", "postgresVersion", "size", "storageSize", "haType", "tags")}
    if credentials:
        view["connectionString"] = connection_string(doc)
    view["username"] = "postgres"
    if credentials:
        view["password"] = doc["password"]
    view["hostname"] = doc["host"]
    view.update(isPrimary=doc["isPrimary"], state=doc["state"], createdAt=doc["createdAt"])
    view["ipAccessList"] = [dict(rule) for rule in doc["ipAccessList"]]
    view["earliestRestoreTime"] = rfc3339(earliest_restore) if earliest_restore is not None else None
    return view


def config(doc: dict) -> dict:
    return {"pgConfig": dict(doc["pgConfig"]), "pgBouncerConfig": dict(doc["pgBouncerConfig"])}
