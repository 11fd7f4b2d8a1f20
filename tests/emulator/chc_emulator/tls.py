"""HTTPS for the API (`--tls`): a CA of the emulator's own, kept under the data dir, so clients
can be tested with `validate_certs` and `ca_path` and no proxy in between.

    <data_dir>/tls/ca.pem       the CA certificate clients trust (CHC_EMULATOR_CA)
    <data_dir>/tls/server.pem   the API's certificate, signed by that CA
    <data_dir>/tls/server.key   its key (0600)

The certificates are made by certs.py, as the services' are.  They are kept across restarts,
so a client configured with the CA keeps working; a new pair is made only when the names the
certificate must cover change, or it is near its end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import ssl
import sys
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from .backend import certs
from .http_api import ApiServer

log = logging.getLogger("chc_emulator")

_RENEW_BEFORE = dt.timedelta(days=30)
_WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")


@dataclasses.dataclass(frozen=True)
class ApiTls:
    directory: Path

    @classmethod
    def of(cls, data_dir: Path) -> ApiTls:
        return cls(data_dir / "tls")

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert_file(self) -> Path:
        return self.directory / "server.pem"

    @property
    def key_file(self) -> Path:
        return self.directory / "server.key"

    def covers(self, hosts: Iterable[str]) -> bool:
        """Whether the kept certificate is usable for hosts: signed by the kept CA, all names in it, not near its end."""
        try:
            ca = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
            cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
            has_key = self.key_file.stat().st_size > 0
            cert.verify_directly_issued_by(ca)
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
            return False
        names = {str(name) for name in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))
        fresh = cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc) > _RENEW_BEFORE
        return has_key and fresh and set(hosts) <= names

    def write(self, hosts: list[str]) -> None:
        """A new CA and a server certificate for hosts (the first is its common name)."""
        made = certs.service_tls("API", hosts)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.key_file.unlink(missing_ok=True)
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(made.key_pem)
        self.cert_file.write_text(made.cert_pem)
        staged = self.ca_file.with_name(self.ca_file.name + ".new")
        staged.write_text(made.ca_pem)
        staged.replace(self.ca_file)  # last and whole: a CA file on disk means the pair it signed is complete

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def certificate_names(listen_host: str, server_host: str) -> list[str]:
    """What clients may call the API: the listening address (unless it is a wildcard), the servers' host name, loopback."""
    names = [listen_host] if listen_host not in _WILDCARD_ADDRESSES else []
    return list(dict.fromkeys([*names, server_host, "localhost", "127.0.0.1", "::1"]))


def ensure(data_dir: Path, hosts: list[str]) -> ApiTls:
    """The API's TLS files under data_dir, made if there are none usable for hosts."""
    tls = ApiTls.of(data_dir)
    if not tls.covers(hosts):
        tls.write(hosts)
        log.info("made a CA and a server certificate for %s in %s", ", ".join(hosts), tls.directory)
    return tls


class HttpsApiServer(ApiServer):
    """The API server on TLS.  The handshake runs in the request's own thread (on its first
    read), so a client that connects and says nothing cannot hold up the accept loop."""

    def __init__(self, address: tuple[str, int], emulator, tls: ApiTls):
        super().__init__(address, emulator)
        self.socket = tls.server_context().wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request, client_address) -> None:
        """A client that does not trust our CA (or speaks plain HTTP) is one log line, not a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ssl.SSLError, ConnectionError)):
            log.info("%s: TLS handshake failed: %s", client_address[0], error)
            return
        super().handle_error(request, client_address)
