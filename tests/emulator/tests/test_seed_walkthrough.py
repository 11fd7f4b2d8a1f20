"""The seeds' curl/jq/psql walkthrough, run verbatim with bash against a real-PostgreSQL emulator.

The bash blocks are taken from both seed pages (fenced ```bash blocks in the newer one,
command paragraphs in the older plain-text one) and run, unchanged but for:

* the base URL: https://api.clickhouse.cloud -> the emulator's URL;
* the credentials and ids the reader is told to fill in: KEY_ID, KEY_SECRET, ORG_ID, and
  PG_ID, taken from the create response;
* the newer seed's FROM/TO example dates (2026-05-25/26), replaced by a window around now,
  and its example QUERY_ID, replaced by the queryId of a statement run first through psql:
  both are ids of the reader's own data, like PG_ID;
* a transcript's "$ " prompt and its output lines, which are not part of the command.

The journey follows the pages' order, except that the newer page's query-insight calls run
before its delete call (after a delete there is no service to ask about).  A block runs in
one long-lived bash, so variables persist as they do for a reader in one terminal; the
state call is repeated until it prints "running", as the page says to.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from emutest import Api, emulator_fixture, needs_postgres, wait_until

SEEDS = Path("/work/shared/seeds")
NEWER, OLDER = SEEDS / "000_4b07e85ef9958e9b.txt", SEEDS / "001_470d3b5ca265930e.txt"
CLOUD = "https://api.clickhouse.cloud"
SEED_MESSAGE = (
    "The changes in the following parameters require a database restart to take effect: max_connections. "
    "You can restart the database by using the restart endpoint."
)
# What the seeds' pattern example is about, recreated for real so its detail URL runs verbatim.
PATTERN_TEXT = "SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2"
ORDERS_PASSWORD = "Orders-Service-Passw0rd"

_FENCE = re.compile(r"^```bash[^\n]*\n(.*?)^```", re.S | re.M)
_COMMAND_START = re.compile(r"^(\$ psql |curl -|[A-Z][A-Z_]*=|[a-z_]+=')")
_ASSIGNMENT = re.compile(r"^([A-Z][A-Z_]*)=\S*$", re.M)
_SENTINEL = "__seed_block_done__"

emu = emulator_fixture(postgres=True, provisioning_seconds=1, deletion_seconds=0.5, rate_limit="off")


# --- taking the blocks off the pages --------------------------------------------------------


def _complete(script: str) -> bool:
    return subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True).returncode == 0


def _command_lines(lines: list[str]) -> list[str]:
    """The lines of a plain-text paragraph that belong to commands (not their printed output)."""
    taken: list[str] = []
    for line in lines:
        if taken and not (taken[-1].endswith("\\") or not _complete("\n".join(taken)) or _COMMAND_START.match(line)):
            break
        taken.append(line)
    return taken


def bash_blocks(text: str) -> list[str]:
    fenced = _FENCE.findall(text)
    if fenced:
        candidates = [block.strip("\n") for block in fenced]
    else:  # the older page is plain text: command paragraphs
        paragraphs = [p.strip("\n").splitlines() for p in re.split(r"\n\s*\n", text)]
        candidates = ["\n".join(_command_lines(lines)) for lines in paragraphs if lines and _COMMAND_START.match(lines[0])]
    # A transcript ("$ psql ...", then what psql printed): the command ends at the blank line.
    return [block.split("\n\n")[0][2:] if block.startswith("$ ") else block for block in candidates]


def role(block: str) -> str:
    checks = [
        ("orgs", "/v1/organizations | jq" in block),
        ("keys", block.startswith("KEY_ID=")),
        ("list", block.startswith("ORG_ID=")),
        ("create_data", block.startswith("create_data=")),
        ("create", '-d "$create_data"' in block),
        ("read", block.startswith("PG_ID=")),
        ("state", block.endswith("| jq .result.state")),
        ("psql", block.startswith("psql ")),
        ("tags", "-sX PATCH" in block),
        ("config", "/config" in block),
        ("delete", "-sX DELETE" in block),
        ("patterns", block.startswith("FROM=")),
        ("pattern", block.startswith("QUERY_ID=")),
    ]
    return next(name for name, hit in checks if hit)


NEWER_ROLES = ["orgs", "list", "create_data", "create", "read", "state", "psql", "tags", "config", "delete", "patterns", "pattern"]
OLDER_ROLES = ["keys", "orgs", "create_data", "create", "read", "state", "psql", "tags", "delete"]


def test_the_blocks_of_both_seeds():
    """Runs without PostgreSQL: the pages still yield the blocks the walkthrough expects."""
    newer, older = bash_blocks(NEWER.read_text(encoding="utf-8")), bash_blocks(OLDER.read_text(encoding="utf-8"))
    assert [role(b) for b in newer] == NEWER_ROLES
    assert [role(b) for b in older] == OLDER_ROLES
    assert '"storageSize": 118' in older[2], "the older create body still sends storageSize"
    assert all(_complete(block) for block in newer + older)
    assert not any("postgres=#" in block or block.startswith('"running"') for block in newer + older), "no output lines"
    assert {m for b in newer + older for m in _ASSIGNMENT.findall(b)} == {"KEY_ID", "KEY_SECRET", "ORG_ID", "PG_ID", "FROM", "TO", "QUERY_ID"}


# --- running them -----------------------------------------------------------------------------


class Shell:
    """One bash; each block is `eval`ed in it in turn, so variables persist between blocks."""

    def __init__(self, home: Path):
        read_end, self._blocks = os.pipe()
        loop = f"while IFS= read -r -d '' block <&{read_end}; do eval \"$block\"; printf '\\n{_SENTINEL} %d\\n' $?; done"
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "LC_ALL": "C.UTF-8"}
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-c", loop],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(read_end,), env=env,
        )  # fmt: skip
        os.close(read_end)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.transcript: list[str] = []

    def _pump(self) -> None:
        for raw in self.proc.stdout:
            self._lines.put(raw.decode(errors="replace"))
        self._lines.put(None)

    def run(self, block: str, *, stdin: str | None = None, timeout: float = 60) -> str:
        """Run one block; return what it printed (stdout and stderr).  It must exit 0."""
        if stdin is not None:
            self.proc.stdin.write(stdin.encode())
            self.proc.stdin.flush()
        os.write(self._blocks, block.encode() + b"\0")
        out, deadline = [], time.monotonic() + timeout
        while True:
            line = self._lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"bash ended while running:\n{block}\n{''.join(out)}"
            if line.startswith(_SENTINEL):
                status = int(line.split()[1])
                break
            out.append(line)
        text = "".join(out).rstrip("\n")
        self.transcript.append(f"$ {block}\n{text}\n[exit {status}]")
        assert status == 0, f"block failed ({status}):\n{block}\n{text}"
        return text

    def close(self) -> None:
        os.close(self._blocks)
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def localise(block: str, url: str, values: dict[str, str]) -> str:
    """The only changes: base URL, and the ids and credentials the reader fills in."""

    def assign(match: re.Match) -> str:
        assert match.group(1) in values, f"no value for {match.group(1)}"
        return f"{match.group(1)}={shlex.quote(values[match.group(1)])}"

    return _ASSIGNMENT.sub(assign, block.replace(CLOUD, url))


def as_user(connection_string: str, user: str, password: str, database: str) -> str:
    parts = urlsplit(connection_string)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}", path=f"/{database}"))


def psql(connection_string: str, script: str, *, app: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if app:
        env["PGAPPNAME"] = app
    ran = subprocess.run(["psql", connection_string, "-X", "-v", "ON_ERROR_STOP=1", "-At"], input=script, capture_output=True, text=True, timeout=60, env=env)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


class Walkthrough:
    """A reader following one seed page against the emulator."""

    def __init__(self, emu, page: Path, home: Path):
        self.emu = emu
        self.api = Api(emu)
        self.blocks = {role(b): b for b in bash_blocks(page.read_text(encoding="utf-8"))}
        key_id, secret = emu.admin_key
        self.values = {"KEY_ID": key_id, "KEY_SECRET": secret, "ORG_ID": emu.org_id}
        self.shell = Shell(home)
        self.ran: list[str] = []
        self.service: dict = {}

    def run(self, name: str, **kwargs) -> str:
        self.ran.append(name)
        return self.shell.run(localise(self.blocks[name], self.emu.url, self.values), **kwargs)

    def json(self, name: str) -> dict:
        return json.loads(self.run(name))

    # --- the steps, each with what the page says the reader sees ---------------------------

    def keys_and_orgs(self) -> None:
        if "keys" in self.blocks:
            assert self.run("keys") == ""
        orgs = self.json("orgs")
        assert [org["id"] for org in orgs["result"]] == [self.emu.org_id] and orgs["status"] == 200

    def create(self) -> None:
        assert self.run("create_data") == ""
        created = self.json("create")
        result = created["result"]
        assert created["status"] == 200 and result["state"] == "creating"
        assert (result["name"], result["provider"], result["region"], result["postgresVersion"], result["size"]) == (
            "my postgres", "aws", "us-west-2", "18", "r8gd.large"
        )  # fmt: skip
        assert result["password"] and result["connectionString"].endswith("?channel_binding=require")
        self.values["PG_ID"] = result["id"]
        self.service = result
        read = self.json("read")
        assert read["result"]["id"] == result["id"] and read["result"]["name"] == "my postgres"

    def wait_running(self) -> None:
        wait_until(lambda: self.run("state") == '"running"', 60, "the seed's state call to print running", interval=0.5)

    def connect(self) -> None:
        session = "\\conninfo\nSELECT 'ssl=' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();\n\\q\n"
        out = self.run("psql", stdin=session)
        assert 'You are connected to database "postgres" as user "postgres"' in out, out
        assert "SSL connection (protocol: TLSv1." in out, out
        assert re.search(r"^\s*ssl=true\s*$", out, re.M), out

    def tags(self) -> None:
        result = self.json("tags")
        assert result["tags"] == [{"key": "Environment", "value": "production"}] and result["id"] == self.values["PG_ID"]

    def config(self) -> None:
        answer = self.json("config")
        assert answer["status"] == 200
        assert answer["result"] == {"pgConfig": {"max_connections": "42"}, "pgBouncerConfig": {}, "message": SEED_MESSAGE}

    def query_insights(self) -> None:
        """Run the seeds' example statement for real, then the two insight calls."""
        admin = self.service["connectionString"]
        psql(admin, f"CREATE ROLE orders_service LOGIN PASSWORD '{ORDERS_PASSWORD}';\nCREATE DATABASE sales OWNER orders_service;\n")
        orders = as_user(admin, "orders_service", ORDERS_PASSWORD, "sales")
        psql(
            orders,
            "CREATE TABLE orders (customer_id int, created_at timestamptz DEFAULT now());\n"
            "INSERT INTO orders (customer_id) SELECT g % 100 FROM generate_series(1, 1000) g;\n"
            "SELECT * FROM orders WHERE customer_id = 42 ORDER BY created_at DESC LIMIT 10;\n"
            "SELECT * FROM orders WHERE customer_id = 7 ORDER BY created_at DESC LIMIT 5;\n",
            app="orders-api",
        )
        now = time.time()
        self.values["FROM"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 600))
        self.values["TO"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 600))

        def listed():
            rows = self.json("patterns")["result"]
            return next((r for r in rows if r["queryText"] == PATTERN_TEXT and r["callCount"] == 2), None)

        pattern = wait_until(listed, 15, "the seed's pattern in the list", interval=0.5)
        assert (pattern["dbName"], pattern["dbUser"], pattern["dbOperation"], pattern["app"]) == ("sales", "orders_service", "SELECT", "orders-api")
        assert re.fullmatch(r"-?\d+", pattern["queryId"]) and -(2**63) <= int(pattern["queryId"]) < 2**63
        assert pattern["totalRows"] == 15
        self.values["QUERY_ID"] = pattern["queryId"]
        detail = self.json("pattern")["result"]
        assert detail["aggregate"]["queryId"] == pattern["queryId"] and detail["aggregate"]["callCount"] == 2
        assert [e["rows"] for e in detail["recentExecutions"]] == [5, 10]
        assert all(e["dbName"] == "sales" and e["dbUser"] == "orders_service" for e in detail["recentExecutions"])

    def delete(self) -> None:
        assert set(self.json("delete")) == {"requestId", "status"}
        sid = self.values["PG_ID"]
        wait_until(lambda: self.api.get(f"/{sid}").status_code == 404, 30, "the deleted service to disappear")

    def close(self) -> None:
        self.shell.close()
        self.api.close()


@pytest.fixture
def walkthrough(emu, tmp_path):
    if shutil.which("jq") is None or shutil.which("curl") is None:
        pytest.skip("the walkthrough needs curl and jq")
    made: list[Walkthrough] = []

    def make(page: Path) -> Walkthrough:
        made.append(Walkthrough(emu, page, tmp_path))
        return made[-1]

    yield make
    for walk in made:
        walk.close()


@needs_postgres
def test_newer_seed_walkthrough(walkthrough):
    walk = walkthrough(NEWER)
    walk.keys_and_orgs()
    listed = walk.json("list")
    assert listed["status"] == 200 and isinstance(listed["result"], list)
    walk.create()
    walk.wait_running()
    walk.connect()
    walk.tags()
    walk.config()
    walk.query_insights()
    walk.delete()
    assert sorted(set(walk.ran)) == sorted(NEWER_ROLES), "every block of the page ran"


@needs_postgres
def test_older_seed_walkthrough(walkthrough):
    walk = walkthrough(OLDER)
    walk.keys_and_orgs()
    # The older page has no ORG_ID block: the reader copies the id from the console.
    walk.shell.run(f"ORG_ID={shlex.quote(walk.emu.org_id)}")
    walk.create()
    assert walk.service["storageSize"] == 118
    walk.wait_running()
    walk.connect()
    walk.tags()
    walk.delete()
    assert sorted(set(walk.ran)) == sorted(OLDER_ROLES), "every block of the page ran"
