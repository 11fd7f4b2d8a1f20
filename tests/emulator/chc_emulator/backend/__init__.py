"""What runs the databases behind the emulated API: real PostgreSQL servers, or nothing at all."""

from .base import Backend, ConfigOutcome, Endpoint, Execution, LogEntry
from .null import NullBackend
from .postgres import BackendError, PostgresBackend

__all__ = ["Backend", "BackendError", "ConfigOutcome", "Endpoint", "Execution", "LogEntry", "NullBackend", "PostgresBackend"]
