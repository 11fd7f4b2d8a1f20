"""Local emulator of the ClickHouse Cloud Managed Postgres API, backed by real PostgreSQL."""

__version__ = "0.1.0"
