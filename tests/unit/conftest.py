# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures: a fake clock for retries and waits, and the API emulator when it is installed."""

from __future__ import annotations

import time

import pytest

try:
    from chc_emulator.testing import EmulatorProcess
except ImportError:
    EmulatorProcess = None

NO_EMULATOR = "chc_emulator.testing is not importable: install the emulator (pip install -e tests/emulator)"


class FakeClock:
    """Monotonic clock advanced only by its own sleep, so retry tests take no time."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def fake_clock():
    return FakeClock()


@pytest.fixture(scope="session")
def emulator_class():
    """``EmulatorProcess``, for tests that need an emulator with options of their own."""
    if EmulatorProcess is None:
        pytest.skip(NO_EMULATOR)
    return EmulatorProcess


# ansible-test runs each test in a forked child that leaves with os._exit: a session fixture
# started there would be started again by every test and never torn down. The shared emulator
# is therefore started by the (un-forked) pytest process itself, once, and stopped at its end.
_shared = {}


def _runs_tests(config):
    """False in the controller of a pytest-xdist run, which only hands tests to its workers."""
    return hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None)


def pytest_sessionstart(session):
    if EmulatorProcess is not None and _runs_tests(session.config):
        fast = dict(provisioning_seconds=0.5, update_seconds=0.3, restart_seconds=0.3, deletion_seconds=0.3)
        _shared["emulator"] = EmulatorProcess(no_postgres=True, rate_limit="off", **fast).start()


def pytest_sessionfinish(session):
    emu = _shared.pop("emulator", None)
    if emu is not None:
        emu.close()


@pytest.fixture(scope="session")
def emulator_process(emulator_class):
    return _shared["emulator"]


@pytest.fixture
def emulator(emulator_process):
    """The shared emulator with no scripted faults left over from another test."""
    emulator_process.clear_faults()
    yield emulator_process
    emulator_process.clear_faults()


def settled_requests(emu):
    """The emulator's request log, once it has stopped growing.

    The emulator writes a line after it has answered (or dropped) the request,
    so a fast client can read the log before the last line lands.
    """
    seen, previous = emu.requests(), None
    while previous is None or len(seen) != len(previous):
        time.sleep(0.05)
        previous, seen = seen, emu.requests()
    return seen


class Writes:
    """``writes()``: (method, last path segment) of the non-GET requests since ``mark()``."""

    def __init__(self, emu):
        self.emu = emu
        self.mark()

    def mark(self):
        self.start = len(settled_requests(self.emu))

    def calls(self):
        """Every request (reads too) since ``mark()``."""
        return len(settled_requests(self.emu)) - self.start

    def __call__(self):
        logged = settled_requests(self.emu)[self.start:]
        return [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in logged if r["method"] != "GET"]


@pytest.fixture
def writes(emulator):
    return Writes(emulator)
