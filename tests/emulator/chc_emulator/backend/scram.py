"""SCRAM-SHA-256 password verifiers computed here, so no clear-text password reaches the server.

`ALTER ROLE ... PASSWORD '<verifier>'` stores the verifier as is; the clear text never
appears in a statement, a log line or pg_stat_statements.  The password is SASLprep'd the
way PostgreSQL does it (src/common/saslprep.c), so non-ASCII passwords work too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

_ITERATIONS = 4096  # PostgreSQL's default scram_iterations

_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
    stringprep.in_table_a1,
)


def _saslprep(password: str) -> str:
    """RFC 4013 as PostgreSQL applies it: ASCII untouched, and on any violation the raw password."""
    if password.isascii():
        return password
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c))
    prepared = unicodedata.normalize("NFKC", mapped)
    if not prepared or any(table(c) for c in prepared for table in _PROHIBITED):
        return password
    if any(stringprep.in_table_d1(c) for c in prepared):  # bidirectional rule of RFC 3454 section 6
        if any(stringprep.in_table_d2(c) for c in prepared) or not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            return password
    return prepared


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The string PostgreSQL stores in pg_authid.rolpassword for this password."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", _saslprep(password).encode(), salt, _ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    return f"SCRAM-SHA-256${_ITERATIONS}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"
