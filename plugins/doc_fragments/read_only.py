# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """What reading modules share: their check and diff mode, and their time window.

    ``DOCUMENTATION`` gives the attributes; ``WINDOW`` the options ``from`` and
    ``to``, whose default each module sets in its own ``options`` (only the key
    ``default``), because the useful window differs per endpoint.
    """

    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    details: The module only reads, so it behaves the same in check mode.
  diff_mode:
    support: none
    details: The module only reads.
"""

    WINDOW = r"""
options:
  from:
    description:
      - Start of the time window. V(now), a time before now such as V(1h), V(30m), V(7d) or V(2w) (units C(s),
        C(m) or C(min), C(h), C(d), C(w)), or an RFC 3339 date-time such as V(2026-03-31T18:17:37Z).
    type: str
    aliases: [from_date]
  to:
    description:
      - End of the time window, in the same forms as O(from). V(now) includes the current second.
      - Both ends are resolved against the same moment, and returned as RV(window).
    type: str
    aliases: [to_date]
"""
