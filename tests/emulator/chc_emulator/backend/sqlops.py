"""The API's dbOperation of a statement: SELECT, INSERT, UPDATE, DELETE, else UTILITY.

Decided by the statement's leading keyword, looking past comments, string literals and the
parenthesised bodies of a WITH clause, so `WITH x AS (DELETE ...) SELECT ...` is a SELECT.
TABLE and VALUES are SELECTs; MERGE, EXPLAIN and everything else are UTILITY.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
      (?P<skip> --[^\n]*                 # line comment
              | /\*.*?\*/                # block comment (not nested)
              | '(?:[^']|'')*'           # string literal
              | "(?:[^"]|"")*"           # quoted identifier
              | (?P<tag>\$[A-Za-z_]*\$).*?(?P=tag) )   # dollar-quoted body
    | (?P<open>\() | (?P<close>\)) | (?P<semicolon>;)
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
""",
    re.VERBOSE | re.DOTALL,
)

_AS = {"SELECT": "SELECT", "TABLE": "SELECT", "VALUES": "SELECT", "INSERT": "INSERT", "UPDATE": "UPDATE", "DELETE": "DELETE"}
_MAIN_AFTER_WITH = set(_AS) | {"MERGE"}


def operation(sql: str) -> str:
    depth = 0
    leading: str | None = None
    for token in _TOKEN.finditer(sql):
        if token["open"]:
            depth += 1
        elif token["close"]:
            depth = max(depth - 1, 0)
        elif token["semicolon"] and depth == 0:
            break
        elif token["word"]:
            word = token["word"].upper()
            if leading is None:
                leading = word
                if word != "WITH":
                    break
            elif depth == 0 and word in _MAIN_AFTER_WITH:
                return _AS.get(word, "UTILITY")
    return _AS.get(leading or "", "UTILITY")
