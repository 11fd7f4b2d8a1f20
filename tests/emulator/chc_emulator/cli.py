"""`chc-emulator`: run the emulated Managed Postgres API in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__, faults, ratelimit
from .app import Emulator, Settings, servers_link
from .control import Timings
from .http_api import ApiKey

_DEFAULTS = Settings()
KEYS_ENV = "CHC_EMULATOR_KEYS"  # keys out of the command line, which every local user can read (ps)


def _key(text: str) -> ApiKey:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise argparse.ArgumentTypeError("expected ID:SECRET[:admin|developer]")
    role = parts[2] if len(parts) == 3 else "admin"
    if role not in ("admin", "developer"):
        raise argparse.ArgumentTypeError(f"role must be admin or developer, not {role!r}")
    return ApiKey(parts[0], parts[1], role)


def _checked(parse):
    def wrapper(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return wrapper


def _at_least(low: float):
    def parse(text: str) -> float:
        value = float(text)
        if value < low:
            raise ValueError(f"must be at least {low:g}")
        return value

    return _checked(parse)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chc-emulator", description="Local emulator of the ClickHouse Cloud Managed Postgres API.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--host", default=_DEFAULTS.host, help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=_DEFAULTS.port, help="port to listen on, 0 for any free one (default %(default)s)")
    p.add_argument("--data-dir", type=Path, default=_DEFAULTS.data_dir, help="state, servers and request log (default ./%(default)s)")
    p.add_argument("--org-id", default=_DEFAULTS.org_id, help="the organisation's id (default %(default)s)")
    p.add_argument(
        "--key", dest="keys", type=_key, action="append",
        help=f"API key ID:SECRET[:admin|developer]; repeatable; more in ${KEYS_ENV}, space-separated (default demo-key:demo-secret:admin)",
    )
    p.add_argument("--provisioning-seconds", type=float, default=Timings.provisioning, help="creating -> running (default %(default)s)")
    p.add_argument("--update-seconds", type=float, default=Timings.update, help="delay before a size/haType change shows (default %(default)s)")
    p.add_argument("--restart-seconds", type=float, default=Timings.restart, help="minimum time in restarting (default %(default)s)")
    p.add_argument("--deletion-seconds", type=float, default=Timings.deletion, help="time in deleting before 404 (default %(default)s)")
    p.add_argument(
        "--first-backup-seconds", type=float, default=Timings.first_backup,
        help="after running, until the first base backup: replicas and restores need it (default %(default)s)",
    )
    p.add_argument(
        "--backup-interval-seconds", type=_at_least(1.0), default=Timings.backup_interval,
        help="between a primary's base backups, at least 1 (default %(default)s: daily)",
    )
    p.add_argument(
        "--backup-retention-seconds", type=_at_least(1.0), default=Timings.backup_retention,
        help="how far back restores reach; older backups and WAL are removed (default %(default)s: 7 days)",
    )
    p.add_argument("--rate-limit", type=_checked(ratelimit.parse), default=_DEFAULTS.rate_limit, help="N/SECONDS per API key, or off (default 10/10)")
    p.add_argument("--faults", type=_checked(faults.parse_rates), default={}, help=f"KIND=RATE,... with KIND in {', '.join(faults.KINDS)}")
    p.add_argument("--fault-latency-ms", type=int, default=_DEFAULTS.fault_latency_ms, help="delay of a latency fault (default %(default)s)")
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed, help="seed of the random faults (default %(default)s)")
    p.add_argument("--no-postgres", action="store_true", help="no servers behind the API (scale tests)")
    p.add_argument(
        "--redact-credentials", action="store_true",
        help="omit password and connectionString from GET/list/PATCH, as the live API does since 2026-07-31",
    )
    p.add_argument("--sample-seconds", type=float, default=_DEFAULTS.sample_seconds, help="telemetry sampling interval (default %(default)s)")
    p.add_argument("--server-host", default=_DEFAULTS.server_host, help="host name clients use to reach the servers (default %(default)s)")
    p.add_argument(
        "--tls", action="store_true",
        help="serve HTTPS with a CA of its own, written to DATA_DIR/tls/ca.pem (kept across restarts) for clients to trust",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir.resolve(),
        org_id=args.org_id.lower(),
        keys=tuple(args.keys or _DEFAULTS.keys),
        timings=Timings(
            provisioning=args.provisioning_seconds,
            update=args.update_seconds,
            restart=args.restart_seconds,
            deletion=args.deletion_seconds,
            first_backup=args.first_backup_seconds,
            backup_interval=args.backup_interval_seconds,
            backup_retention=args.backup_retention_seconds,
        ),
        rate_limit=args.rate_limit,
        fault_rates=args.faults,
        fault_latency_ms=args.fault_latency_ms,
        seed=args.seed,
        postgres=not args.no_postgres,
        redact_credentials=args.redact_credentials,
        sample_seconds=args.sample_seconds,
        server_host=args.server_host,
        tls=args.tls,
    )


def _banner(emulator: Emulator) -> str:
    """What a developer needs to connect, except the secrets: the banner ends up in logs."""
    s = emulator.settings
    keys = "\n".join(f"  key         {k.key_id} ({k.role})" for k in s.keys)
    limit = f"{s.rate_limit[0]} requests / {s.rate_limit[1]:g} s per key" if s.rate_limit else "off"
    fault_text = ", ".join(f"{k}={v}" for k, v in s.fault_rates.items()) or "none"
    ca = f"  CA          {emulator.tls.ca_file}\n" if emulator.tls else ""
    cacert = f"--cacert {emulator.tls.ca_file} " if emulator.tls else ""
    return (
        f"chc-emulator {__version__} listening on {emulator.url}\n"
        f"  org id      {s.org_id}\n{keys}\n{ca}"
        f"  data dir    {s.data_dir}\n"
        f"  servers     {_servers(s)}\n"
        f"  rate limit  {limit}\n  faults      {fault_text} (seed {s.seed})\n"
        f"  credentials {'redacted' if s.redact_credentials else 'returned by GET'}\n"
        f"  timings     provisioning {s.timings.provisioning:g}s, update {s.timings.update:g}s, restart {s.timings.restart:g}s, "
        f"deletion {s.timings.deletion:g}s, first backup {s.timings.first_backup:g}s, "
        f"then every {s.timings.backup_interval:g}s, kept {s.timings.backup_retention:g}s\n"
        f"Try: curl -s {cacert}--user {s.keys[0].key_id} {emulator.url}/v1/organizations/{s.org_id}/postgres  (curl asks for the secret)"
    )


def _servers(settings: Settings) -> str:
    if not settings.postgres:
        return "none (--no-postgres)"
    link = servers_link(settings.data_dir)
    return f"PostgreSQL, in {link.resolve()} (PostgreSQL's user cannot reach the data dir)" if link.is_symlink() else "PostgreSQL"


def _started(settings: Settings) -> Emulator | None:
    """A started emulator, or None after one line saying why it cannot start (and nothing left running)."""
    log = logging.getLogger("chc_emulator")
    emulator = None
    try:
        emulator = Emulator(settings)
        emulator.start()
        return emulator
    except KeyboardInterrupt:
        log.error("cannot start: interrupted")
    except Exception as exc:  # whatever it is, the user gets one clear line, not a traceback
        log.error("cannot start: %s", _reason(exc))
        log.debug("cannot start", exc_info=True)
    if emulator is not None:
        try:
            emulator.stop()
        except Exception as exc:
            log.error("while stopping after the failed start: %s", _reason(exc))
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options, with the keys of $CHC_EMULATOR_KEYS after those of --key."""
    p = parser()
    args = p.parse_args(argv)
    try:
        args.keys = (args.keys or []) + [_key(text) for text in os.environ.get(KEYS_ENV, "").split()]
    except argparse.ArgumentTypeError as exc:
        p.error(f"${KEYS_ENV}: {exc}")
    return args


def _keep_directories_searchable() -> None:
    """Take the execute bits out of the umask, so the servers' user (another one when we are
    root) can pass through the directories we make for it, whatever umask we were started with.
    Files keep the umask's protection: they are created without execute bits anyway."""
    os.umask(os.umask(0) & ~0o111)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _keep_directories_searchable()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    emulator = _started(settings_from(args))
    if emulator is None:
        return 1

    def stop(signum, _frame) -> None:
        # Only break the serve loop here; the main thread then stops servers in order.
        logging.getLogger("chc_emulator").info("signal %d: stopping", signum)
        threading.Thread(target=emulator.server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(_banner(emulator), flush=True)
    emulator.serve_forever()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
