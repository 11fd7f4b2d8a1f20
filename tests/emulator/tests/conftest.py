"""Fixtures of the emulator's own tests; the helpers they use live in emutest.py."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from chc_emulator.testing import EmulatorProcess  # noqa: E402
from emutest import BENCHMARKS, Api, finish, start_emulator  # noqa: E402


@pytest.fixture
def spawn() -> Iterator[Callable[..., EmulatorProcess]]:
    """Start emulators for one test; all are stopped and removed afterwards."""
    started: list[EmulatorProcess] = []

    def start(**options) -> EmulatorProcess:
        emu = start_emulator(**options)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        finish(emu)


@pytest.fixture
def client() -> Iterator[Callable[..., Api]]:
    """Make Api clients for any emulator; closed afterwards."""
    made: list[Api] = []

    def make(emu: EmulatorProcess, key: tuple[str, str] | None = None, **kwargs) -> Api:
        api = Api(emu, key, **kwargs)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


# A module that defines an `emu` fixture (emutest.emulator_fixture) gets these two clients.


@pytest.fixture(scope="module")
def api(emu) -> Iterator[Api]:
    """The admin key's client for the module's emulator."""
    made = Api(emu)
    yield made
    made.close()


@pytest.fixture(scope="module")
def reader(emu) -> Iterator[Api]:
    """The developer (read-only) key's client for the module's emulator."""
    made = Api(emu, emu.readonly_key)
    yield made
    made.close()


def pytest_terminal_summary(terminalreporter) -> None:
    if BENCHMARKS:
        terminalreporter.section("emulator benchmarks")
        for line in BENCHMARKS:
            terminalreporter.write_line(line)
