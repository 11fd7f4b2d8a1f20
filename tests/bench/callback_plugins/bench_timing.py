# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where a playbook run's time goes, for the bench (tests/bench/fleet.py): per task, when it started
and when its last host answered, written as JSON to $BENCH_TIMING_FILE when the run ends.

Enabled with ANSIBLE_CALLBACK_PLUGINS=tests/bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=bench_timing
(ansible.posix.profile_tasks does the same on screen, but ansible.posix is not installed here).
Times are time.time(), so the bench can set them against the moment it started the process.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timing
type: aggregate
short_description: per-task start and end times as JSON, for tests/bench
description:
  - Writes the start of the playbook, of each play and task, and the time each task's last host answered,
    to the file named by the environment variable BENCH_TIMING_FILE.
requirements:
  - BENCH_TIMING_FILE set (otherwise it writes nothing)
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("BENCH_TIMING_FILE")
        self._record = {"playbook_start": None, "plays": [], "tasks": [], "end": None}
        self._task = None

    def v2_playbook_on_start(self, playbook):
        self._record["playbook_start"] = time.time()

    def v2_playbook_on_play_start(self, play):
        self._record["plays"].append({"name": play.get_name(), "start": time.time()})

    def _start(self, task, handler=False):
        self._task = {"name": task.get_name(), "handler": handler, "start": time.time(), "end": None, "results": 0}
        self._record["tasks"].append(self._task)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task, handler=True)

    def _result(self, result, *args, **kwargs):
        if self._task is not None:
            self._task["end"] = time.time()
            self._task["results"] += 1

    v2_runner_on_ok = v2_runner_on_failed = v2_runner_on_skipped = v2_runner_on_unreachable = _result

    def v2_playbook_on_stats(self, stats):
        self._record["end"] = time.time()
        if self._path:
            with open(self._path, "w", encoding="utf-8") as handle:
                json.dump(self._record, handle)
