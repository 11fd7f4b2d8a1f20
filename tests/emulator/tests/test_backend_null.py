"""NullBackend: the backend contract with no servers, for --no-postgres scale runs."""

from __future__ import annotations

import datetime as dt

import pytest
from chc_emulator.backend import Endpoint, NullBackend
from chc_emulator.backend.stats import zero_stats
from cryptography import x509


@pytest.fixture
def backend(tmp_path):
    return NullBackend(tmp_path / "null")


def test_every_service_runs_at_once_on_one_endpoint(backend):
    backend.prepare()
    assert backend.data_dir.is_dir()
    assert backend.provision("a", "Passw0rd-Passw0rd", {"work_mem": "4MB"}) == Endpoint("localhost", 5432)
    backend.start("a")
    assert backend.is_ready("a")
    assert backend.endpoint("b") == Endpoint("localhost", 5432)
    backend.restart("a")
    backend.stop("a")
    backend.destroy("a")
    backend.shutdown()


def test_ca_certificate_is_one_real_ca(backend, tmp_path):
    pem = backend.ca_certificate("a")
    assert pem == NullBackend(tmp_path / "other").ca_certificate("b")
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_config_reports_what_postgres_15_would_restart_for(backend):
    outcome = backend.apply_config("a", {"work_mem": "4MB", "max_connections": "50", "transaction_timeout": "1s"})
    assert outcome.pending_restart == ("max_connections",)
    assert outcome.not_applied == ()


def test_nothing_runs_so_nothing_is_logged_and_stats_are_zero(backend):
    now = dt.datetime.now(dt.timezone.utc)
    assert backend.executions("a", now - dt.timedelta(days=1), now) == []
    assert backend.log_entries("a", now - dt.timedelta(days=1), now) == []
    snapshot = backend.stats("a")
    assert snapshot == zero_stats()
    assert all(value == 0 for value in snapshot.values() if isinstance(value, float))
    assert all(v == 0 for value in snapshot.values() if isinstance(value, dict) for v in value.values())
