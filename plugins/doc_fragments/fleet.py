# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """What the fleet action plugins share: they run on the controller, once per play, never async.

    Use with ``ansible.builtin.action_common_attributes`` (a fragment cannot extend another).
    """

    DOCUMENTATION = r"""
attributes:
  action:
    description: An action plugin does the work, on the controller.
    support: full
  async:
    description: Whether the task can run with C(async).
    support: none
  bypass_host_loop:
    description: Whether the task runs once for all hosts by itself; these run per host, or once with C(run_once).
    support: none
"""
