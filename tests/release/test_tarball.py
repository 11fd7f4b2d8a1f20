# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release as users get it: the tarball is built, installed into an empty collections path with
ansible-galaxy, and its own playbooks, inventory plugin and docs work from there, against the emulator.

Run by ``make release-test`` (``pytest tests/release``) with the collection importable from ``.collections``.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import yaml
from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
from ansible_collections.clickhouse.cloud.plugins.module_utils._version import COLLECTION_VERSION
from ansible_collections.clickhouse.cloud.tests.unit.ansible_cli import FAST_EMULATOR, clean_env, emulator_env, run, tool

EmulatorProcess = pytest.importorskip("chc_emulator.testing").EmulatorProcess

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
GALAXY = yaml.safe_load((COLLECTION_ROOT / "galaxy.yml").read_text())
# Development tooling that must not ship (galaxy.yml build_ignore)
NOT_SHIPPED = ("tests/emulator/", "tests/bench/", "tools/", ".venv", ".build/", "dist/", ".collections/", "Makefile")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), str(COLLECTION_ROOT)], clean_env(), out)
    [built] = out.glob("*.tar.gz")
    return built


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory):
    """The tarball installed into an empty collections path, offline: ``(collections path, collection dir)``."""
    path = tmp_path_factory.mktemp("collections")
    run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p", str(path), str(tarball)], clean_env(), path)
    return path, path / "ansible_collections" / "clickhouse" / "cloud"


@pytest.fixture(scope="module")
def emulator():
    with EmulatorProcess(**FAST_EMULATOR) as emu:
        yield emu


def user_env(installed, emulator):
    return emulator_env(emulator, ANSIBLE_COLLECTIONS_PATH=str(installed[0]), ANSIBLE_HOME=str(installed[0] / ".ansible-home"))


def test_the_tarball_is_the_release(tarball):
    assert tarball.name == "clickhouse-cloud-%s.tar.gz" % GALAXY["version"]
    assert GALAXY["version"] == COLLECTION_VERSION, "galaxy.yml and plugins/module_utils/_version.py disagree"
    with tarfile.open(tarball) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))
        names = archive.getnames()
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("clickhouse", "cloud", GALAXY["version"])
    assert info["dependencies"] == {} and info["repository"] and info["documentation"] and info["issues"]
    assert "database" in info["tags"]
    for shipped in ("plugins/inventory/postgres.py", "extensions/awx/credential_type/inputs.yml",
                    "extensions/awx/credential_type/injectors.yml", "meta/execution-environment.yml", "requirements.txt",
                    "bindep.txt", "meta/runtime.yml", "changelogs/changelog.yaml", "playbooks/site.yml", "docs/awx.md"):
        assert shipped in names, shipped
    assert not [n for n in names if n.startswith(NOT_SHIPPED) or "__pycache__" in n]


def test_playbooks_inventory_and_docs_from_the_installed_copy(installed, emulator, tmp_path):
    path, collection = installed
    env = user_env(installed, emulator)
    listed = run([tool("ansible-galaxy"), "collection", "list", "clickhouse.cloud", "--format", "json"], env, tmp_path)
    assert list(json.loads(listed)) == [str(path / "ansible_collections")]
    report = tmp_path / "fleet.md"
    run([tool("ansible-playbook"), "-i", str(collection / "playbooks" / "inventory" / "demo.yml"),
         str(collection / "playbooks" / "site.yml"), "-e", "postgres_report_path=%s" % report], env, tmp_path)
    api = PostgresApi(Transport(emulator.url, *emulator.admin_key), emulator.org_id)
    assert sorted(s.name for s in api.list_services() if s.state == "running") == ["orders", "payments", "reporting"]
    assert "orders" in report.read_text()
    source = tmp_path / "clickhouse.postgres.yml"
    source.write_text(yaml.safe_dump({"plugin": "clickhouse.cloud.postgres", "details": False}))
    graph = run([tool("ansible-inventory"), "-i", str(source), "--graph", "postgres_services"], env, tmp_path)
    assert all("|--%s" % name in graph for name in ("orders", "payments", "reporting"))
    doc = json.loads(run([tool("ansible-doc"), "-t", "inventory", "-j", "clickhouse.cloud.postgres"], env, tmp_path))
    assert doc["clickhouse.cloud.postgres"]["doc"]["filename"].startswith(str(collection))


def test_the_release_entry(installed):
    """antsibull-changelog makes this version's entry from the fragments that ship, with the new plugins."""
    path, collection = installed
    # an installed collection has MANIFEST.json instead of galaxy.yml: the command line says what it is
    run([tool("antsibull-changelog"), "release", "--is-collection", "--collection-namespace", "clickhouse",
         "--collection-name", "cloud", "--no-collection-flatmap", "--version", GALAXY["version"]],
        clean_env(ANSIBLE_COLLECTIONS_PATH=str(path)), collection)
    changelog = (collection / "CHANGELOG.md").read_text().replace("\\", "")  # Markdown escapes
    assert "v%s" % GALAXY["version"] in changelog
    assert "Release Summary" in changelog
    assert "clickhouse.cloud.postgres - ClickHouse Cloud Managed Postgres services as inventory hosts" in changelog
    assert "postgres_service" in changelog
