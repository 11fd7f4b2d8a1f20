# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running Ansible's command-line tools the way a user's shell does, against an emulator.

Shared by the inventory plugin's tests and by those that run jobs and the installed release
(``tests/awx``, ``tests/release``): the tools of the running venv, an environment without this
checkout's Ansible and ClickHouse settings, and the emulator's credentials as AWX would inject them.
"""

from __future__ import annotations

import os
import subprocess
import sys

# An emulator that answers at once: no PostgreSQL servers, no rate limit, short state changes.
FAST_EMULATOR = dict(no_postgres=True, rate_limit="off", provisioning_seconds=0.5, update_seconds=0.3,
                     restart_seconds=0.3, deletion_seconds=0.3)


def tool(name):
    """A command of the venv the tests run in (ansible-test's copies included)."""
    return os.path.join(sys.prefix, "bin", name)


def clean_env(**extra):
    """The environment without ANSIBLE_*, CLICKHOUSE_* and PYTHONPATH, with the venv's tools first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CLICKHOUSE_")) and k != "PYTHONPATH"}
    env["PATH"] = os.path.join(sys.prefix, "bin") + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def emulator_env(emu, **extra):
    """``clean_env`` plus the emulator's admin credentials, unpaced (the emulators of these tests have no limit)."""
    return clean_env(CLICKHOUSE_API_URL=emu.url, CLICKHOUSE_ORG_ID=emu.org_id, CLICKHOUSE_CLOUD_API_KEY=emu.admin_key[0],
                     CLICKHOUSE_CLOUD_API_SECRET=emu.admin_key[1], CLICKHOUSE_API_RATE_LIMIT="off", **extra)


def run(command, env, cwd=None):
    """Its standard output; a failure shows the ends of both outputs."""
    done = subprocess.run([str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, "%s\n%s\n%s" % (" ".join(map(str, command)), done.stdout[-4000:], done.stderr[-3000:])
    return done.stdout
