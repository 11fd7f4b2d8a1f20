# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """How a module that works on one existing service finds it."""

    DOCUMENTATION = r"""
options:
  id:
    description:
      - ID (UUID) of the service.
      - One of O(id) and O(name) is required; O(id) wins when both are given.
    type: str
  name:
    description:
      - Name of the service, which must be unique in the organization.
      - A name that matches no service, or several, fails the task before anything is sent.
      - Either way, finding the service costs one API call.
    type: str
"""
