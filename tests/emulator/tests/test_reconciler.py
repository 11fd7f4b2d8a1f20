"""The reconciler against a backend whose steps can be held, for races no real server shows on demand."""

from __future__ import annotations

import threading

import pytest
from chc_emulator.backend import NullBackend
from chc_emulator.control import ControlPlane, Timings
from chc_emulator.errors import ApiError
from chc_emulator.reconciler import Reconciler
from chc_emulator.store import Store
from emutest import wait_until

CREATE = {"name": "held", "provider": "aws", "region": "us-east-1", "size": "r8gd.large"}


class HeldBackend(NullBackend):
    """``restart`` and the first ``start`` wait until released; ``destroy`` is recorded."""

    def __init__(self, data_dir):
        super().__init__(data_dir)
        self.entered = {"start": threading.Event(), "restart": threading.Event()}
        self.release = {"start": threading.Event(), "restart": threading.Event()}
        self.destroyed: list[str] = []

    def _hold(self, step: str) -> None:
        self.entered[step].set()
        assert self.release[step].wait(10), f"{step} never released"

    def start(self, service_id: str) -> None:
        self._hold("start")

    def restart(self, service_id: str) -> None:
        self._hold("restart")

    def destroy(self, service_id: str) -> None:
        self.destroyed.append(service_id)


@pytest.fixture
def plane(tmp_path):
    backend = HeldBackend(tmp_path / "servers")
    backend.prepare()
    store = Store(tmp_path / "state.db")
    reconciler = Reconciler(store, backend, interval=0.01)
    control = ControlPlane(store, backend, reconciler, Timings(0, 0, 0, 0, 0), redact=False)
    reconciler.start()
    yield control, backend
    for step in backend.release.values():
        step.set()
    reconciler.stop()


def gone(control: ControlPlane, service_id: str) -> bool:
    try:
        control.get_service(service_id)
    except ApiError:
        return True
    return False


@pytest.mark.parametrize("held", ["start", "restart"])
def test_a_delete_that_lands_during_a_start_or_restart_still_destroys_the_server(plane, held):
    control, backend = plane
    service_id = control.create_service(dict(CREATE))["id"]
    if held == "restart":
        backend.release["start"].set()
        wait_until(lambda: control.get_service(service_id)["state"] == "running", 10, "the service to run")
        control.run_command(service_id, {"command": "restart"})
    assert backend.entered[held].wait(10)
    control.delete_service(service_id)
    backend.release[held].set()
    wait_until(lambda: backend.destroyed == [service_id], 10, "the server to be destroyed")
    wait_until(lambda: gone(control, service_id), 10, "the service to be gone")
