# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The collection's version, sent in the User-Agent; keep in step with galaxy.yml."""

from __future__ import annotations

COLLECTION_NAME = "clickhouse.cloud"
COLLECTION_VERSION = "0.1.0"
