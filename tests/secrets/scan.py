# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the secret scans share (``test_secret_scan.py`` through ``ansible-playbook``, ``test_runner_scan.py`` through
``ansible-runner``): this run's secrets, the module plays that every module runs in, and the scan of texts and files
for them. The 0600 files the user chose (``creds/`` under the run's home) and the documented rescue directory
(``~/.ansible/clickhouse-cloud``) are the only places a password may be kept.
"""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

from ansible_collections.clickhouse.cloud.plugins.module_utils._api import PostgresApi
from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport

COLLECTION_ROOT = Path(__file__).resolve().parents[2]
KEY_SECRET = "scan-secret-%s" % uuid.uuid4().hex  # nothing else in any output can hold this by chance
NEW_PASSWORD = "Scan-Set-%s" % uuid.uuid4().hex  # what postgres_password sets: a module option marked no_log
SERVICE = {"provider": "aws", "region": "us-east-1", "size": "r8gd.large", "ip_access_list": [{"source": "127.0.0.1/32"}]}


def collection_tree(root):
    """``root/collections``, where ansible finds this checkout's collection through a symlink."""
    (root / "collections" / "ansible_collections" / "clickhouse").mkdir(parents=True)
    (root / "collections" / "ansible_collections" / "clickhouse" / "cloud").symlink_to(COLLECTION_ROOT)
    return root / "collections"


def passwords(emu):
    """Every service's password as the emulator holds it now (it returns them on every GET, as an organization
    without credential redaction)."""
    api = PostgresApi(Transport(emu.url, *emu.admin_key), emu.org_id)
    return {s.name: api.get_service(s.id).password for s in api.list_services()}


def task(module, **args):
    return {"clickhouse.cloud." + module: args}


def chosen_files(home):
    """The 0600 files the user chose (or the documented rescue directory) for passwords; each must be 0600."""
    files = [p for p in (home / "creds").rglob("*") if p.is_file()] + list((home / ".ansible" / "clickhouse-cloud").rglob("*.json"))
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    return set(files)


def leaks(secrets, text):
    return sorted({name for name, secret in secrets.items() if secret and secret in text})


def files_with_secrets(root, secrets, allowed=(), home=None):
    """``{file: [secret names]}`` for the files under ``root`` holding a secret, but for the chosen ones (under
    ``home``, by default ``root``) and the ``allowed`` paths."""
    allowed = chosen_files(home or root) | set(allowed)
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path not in allowed:
            hit = leaks(secrets, path.read_text(errors="replace"))
            if hit:
                found[str(path.relative_to(root))] = hit
    return found


def job_events(artifacts):
    """The events of an ansible-runner job, as AWX stores them."""
    return [json.loads(path.read_text()) for path in sorted((artifacts / "job_events").glob("*.json"))]


def module_plays():
    """Every module, in three plays: a create shown in full (the control), the rest, then the deletes. Only tasks that
    are told no_log get secrets in their results; ``home`` (a variable) holds ``creds/``, the user's chosen directory,
    and ``new_password`` the password to set."""
    return {
        # The documented exception: without no_log, the create's result shows the new password.
        "create without no_log": [dict(name="create, the result shown", **task("postgres_service", name="scan-shown", **SERVICE))],
        "every module": [
            dict(name="create with no_log", no_log=True, register="hidden",
                 **task("postgres_service", name="scan-hidden", credentials_file="{{ home }}/creds/scan-hidden.json", **SERVICE)),
            dict(name="a create whose wait fails: no password in the failure", ignore_errors=True,
                 **task("postgres_service", name="scan-rescued", wait_timeout=1, **SERVICE)),
            dict(name="tags", **task("postgres_service", name="scan-shown", tags={"scan": "yes"})),
            dict(name="resize in check mode with diff", check_mode=True, diff=True,
                 **task("postgres_service", name="scan-shown", size="r8gd.xlarge")),
            dict(name="restart", **task("postgres_service", name="scan-shown", state="restarted")),
            dict(name="settings with a restart", diff=True,
                 **task("postgres_config", name="scan-shown", pg_config={"max_connections": 150}, restart="if_required")),
            dict(name="list", **task("postgres_info")),
            dict(name="one, with config and CA", **task("postgres_info", name="scan-hidden", include_config=True,
                                                        include_ca_certificate=True)),
            dict(name="set a password", **task("postgres_password", name="scan-shown", password="{{ new_password }}")),
            dict(name="rotate a password, returned under no_log", no_log=True, register="rotated",
                 **task("postgres_password", name="scan-hidden", return_password=True)),
            dict(name="keep it where the user chose", no_log=True,
                 **{"ansible.builtin.copy": {"content": "{{ rotated.password }}", "dest": "{{ home }}/creds/rotated", "mode": "0600"}}),
            dict(name="certificate file", **task("postgres_certificate", name="scan-hidden", dest="{{ home }}/ca.pem")),
            dict(name="certificate", **task("postgres_certificate_info", name="scan-hidden")),
            dict(name="backups", **task("postgres_backups_info", name="scan-hidden")),
            dict(name="logs", **task("postgres_logs_info", name="scan-hidden")),
            dict(name="metrics", **task("postgres_metrics_info", name="scan-hidden")),
            dict(name="prometheus", **task("postgres_prometheus_info", name="scan-hidden")),
            dict(name="slow queries", **task("slow_query_patterns", name="scan-hidden")),
        ],
        "deletes": [dict(name="delete %s" % name, **task("postgres_service", name=name, state="absent"))
                    for name in ("scan-shown", "scan-hidden", "scan-rescued")],
    }


def run_module_plays(emu, home, run, control=()):
    """The module plays, each by ``run(name, tasks)``, the ``control`` tasks added to the first (the shown create).

    Returns ``{play: what run returned}``, the secrets seen (the key secret, the set password and every password any
    service had, read from the emulator and from the chosen files) and the one the first play shows."""
    (home / "creds").mkdir(mode=0o700)
    outputs, secrets = {}, {"key secret": KEY_SECRET, "set password": NEW_PASSWORD}

    def note(name, secret):  # each secret once, under the first name it had
        if secret not in secrets.values():
            secrets[name] = secret

    def note_passwords():
        for service, secret in passwords(emu).items():
            note("password of %s (%d)" % (service, len(secrets)), secret)

    for name, tasks in module_plays().items():
        first = name == "create without no_log"
        outputs[name] = run(name, tasks + list(control) if first else tasks)
        if first:
            note_passwords()
            shown = {"password of scan-shown": passwords(emu)["scan-shown"]}
        elif name == "every module":
            note_passwords()  # scan-hidden's rotated password; its first is in its credentials_file only
            for path in chosen_files(home):
                if path.suffix == ".json":
                    note("kept in " + path.name, json.loads(path.read_text())["password"])
    assert passwords(emu) == {}
    return outputs, secrets, shown
