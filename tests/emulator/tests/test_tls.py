"""HTTPS (`--tls`): clients that trust the emulator's CA verify it, clients that do not fail,
the CA is kept across restarts, and the collection's own transport works with `ca_path`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from chc_emulator import tls
from chc_emulator.testing import EmulatorProcess
from emutest import emulator_fixture

emu = emulator_fixture(tls=True)
COLLECTIONS = Path(__file__).resolve().parents[3] / ".collections"


def org_url(emu: EmulatorProcess) -> str:
    return f"{emu.url}/v1/organizations/{emu.org_id}/postgres"


def test_a_client_that_trusts_the_ca_verifies_the_api(emu):
    assert emu.url.startswith("https://")
    answer = httpx.get(org_url(emu), auth=emu.admin_key, verify=emu.ssl_context(), timeout=10)
    assert answer.status_code == 200 and answer.json()["result"] == []


def test_a_client_without_the_ca_fails_verification(emu):
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(org_url(emu), auth=emu.admin_key, timeout=10)


def test_the_certificate_names_the_hosts_clients_use(emu):
    for host in ("localhost", "127.0.0.1"):
        url = org_url(emu).replace("127.0.0.1", host, 1)
        assert httpx.get(url, auth=emu.admin_key, verify=emu.ssl_context(), timeout=10).status_code == 200


def test_plain_http_gets_no_answer(emu):
    with pytest.raises(httpx.TransportError):
        httpx.get(emu.url.replace("https://", "http://") + "/v1", timeout=10)


def test_the_banner_says_where_the_ca_is(emu):
    assert f"CA          {emu.ca_file}" in emu.log_text() and "--cacert" in emu.log_text()


def test_the_ca_is_kept_across_restarts(spawn):
    emu = spawn(tls=True)
    ca = emu.ca_file.read_bytes()
    emu.restart()
    assert emu.ca_file.read_bytes() == ca, "a client configured with the CA must keep working"
    assert httpx.get(emu.url + "/v1", verify=emu.ssl_context(), timeout=10).status_code == 200


def test_new_names_get_a_new_certificate(tmp_path):
    kept = tls.ensure(tmp_path, ["localhost", "127.0.0.1"])
    ca = kept.ca_file.read_bytes()
    assert tls.ensure(tmp_path, ["127.0.0.1"]).ca_file.read_bytes() == ca, "a subset of the names needs nothing new"
    renamed = tls.ensure(tmp_path, ["emulator.example", "localhost"])
    assert renamed.ca_file.read_bytes() != ca and renamed.covers(["emulator.example", "localhost"])
    assert (renamed.key_file.stat().st_mode & 0o777) == 0o600


def test_a_broken_certificate_is_made_again(tmp_path):
    kept = tls.ensure(tmp_path, ["localhost"])
    kept.cert_file.write_text("not a certificate")
    assert not kept.covers(["localhost"])
    assert tls.ensure(tmp_path, ["localhost"]).covers(["localhost"])


@pytest.fixture
def transport_class() -> Iterator[type]:
    """The collection's Transport, imported from this checkout as Ansible would find it."""
    sys.path.insert(0, str(COLLECTIONS))
    try:
        from ansible_collections.clickhouse.cloud.plugins.module_utils._transport import Transport
    except ImportError as exc:
        pytest.skip(f"the collection's transport is not importable from {COLLECTIONS}: {exc}")
    yield Transport
    sys.path.remove(str(COLLECTIONS))


def test_the_collections_transport_verifies_with_ca_path(emu, transport_class):
    def listing(**tls_options) -> object:
        transport = transport_class(emu.url, *emu.admin_key, retries=0, **tls_options)
        try:
            return transport.request("GET", f"/organizations/{emu.org_id}/postgres").result
        finally:
            transport.close()

    assert listing(ca_path=str(emu.ca_file)) == []
    assert listing(validate_certs=False) == []
    with pytest.raises(Exception, match="(?i)certificate") as refused:
        listing()
    assert type(refused.value).__name__ == "ApiError"


def test_emulator_process_knows_its_scheme_and_ca():
    plain, secure = EmulatorProcess(data_dir="/nonexistent"), EmulatorProcess(data_dir="/nonexistent", tls=True)
    assert (plain.url[:5], plain.ca_file, plain.ssl_context()) == ("http:", None, None)
    assert secure.url.startswith("https://") and secure.ca_file == Path("/nonexistent/tls/ca.pem") and "--tls" in secure.command()


_CHECK_CA_FROM_ENV = """
import os, ssl, sys, urllib.request
url, ca = os.environ["CLICKHOUSE_API_URL"], os.environ["CHC_EMULATOR_CA"]
assert url.startswith("https://") and ca, (url, ca)
assert urllib.request.urlopen(url, context=ssl.create_default_context(cafile=ca), timeout=10).status == 200
try:
    urllib.request.urlopen(url, timeout=10)
except urllib.error.URLError as exc:
    assert "CERTIFICATE_VERIFY_FAILED" in str(exc), exc
else:
    sys.exit("verified without the CA")
"""


def test_emulator_ctl_run_tls_exports_the_ca():
    ctl = COLLECTIONS.parent / "tools" / "emulator-ctl"
    ran = subprocess.run([str(ctl), "run", "--tls", "--", sys.executable, "-c", _CHECK_CA_FROM_ENV], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "CHC_EMULATOR_ARGS": "--no-postgres --rate-limit off"})
    assert ran.returncode == 0, ran.stdout + ran.stderr
