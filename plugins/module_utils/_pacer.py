# -*- coding: utf-8 -*-
# Copyright (c) ClickHouse Cloud collection maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Client-side pacing of API requests, shared by every process on this controller that uses one key.

The API admits N requests per sliding window of W seconds per API key (10 per
10 s) and refuses the rest with HTTP 429.  Ansible runs every task of every
fork in a process of its own, so without a shared book the processes race for
each freed slot and most of them lose.  Here every request first reserves the
next free send time in a book kept in a small JSON file next to a lock file;
the lock is held only to read and update the book, never while waiting.
Reservations are handed out in order, so N processes queue instead of
stampeding.

``SlotBook`` is the arithmetic on a plain dict and a given time (tested with a
fake clock); ``LocalPacer`` keeps that dict in memory, ``SharedPacer`` in the
files, falling back to memory when the files cannot be used.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import threading
import time

from ._transport import normalize_base_url

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None

DEFAULT_RATE_LIMIT = "10/10"
# Seconds added to every window: the server counts a request when it arrives, we when we send it.
SAFETY_MARGIN = 0.25
# A limit learned from a 429 grows back by one request after this many windows without one.
RECOVERY_WINDOWS = 1
# A stored time further ahead than this was written by a clock that has since been set back.
MAX_AHEAD = 600.0
STATE_VERSION = 1


def parse_rate_limit(text):
    """``"10/10"`` -> ``(10, 10.0)``, ``"off"`` -> None; ValueError says what is wrong."""
    value = str(text).strip().lower()
    if value == "off":
        return None
    count, sep, seconds = value.partition("/")
    try:
        limit = (int(count), float(seconds))
    except ValueError:
        limit = None
    if not sep or limit is None or limit[0] < 1 or not 0 < limit[1] < float("inf"):
        raise ValueError("api_rate_limit must be N/SECONDS (N requests per SECONDS, such as 10/10) "
                         "with N >= 1 and SECONDS > 0, or off; got %r" % (text,))
    return limit


class Slot:
    """A send time handed out by a pacer.

    ``at`` is on the pacer's clock, ``wait`` the seconds from the reservation to
    it, ``queued`` how many reservations were still ahead.  ``reserved`` is False
    when the slot lay beyond the caller's ``max_wait`` and was not taken.
    """

    def __init__(self, at, wait, queued, reserved=True):
        self.at = at
        self.wait = wait
        self.queued = queued
        self.reserved = reserved

    def __repr__(self):
        return "Slot(at=%r, wait=%r, queued=%r, reserved=%r)" % (self.at, self.wait, self.queued, self.reserved)


def fresh_state():
    """An empty book: no sends, no block, no limit learned from the server."""
    return {"version": STATE_VERSION, "slots": [], "blocked_until": 0.0, "learned_limit": None,
            "learned_at": 0.0, "updated": 0.0}


def _valid(state):
    """Whether a state read from a file has the shape this module writes."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        return False
    numbers = (int, float)
    return (isinstance(state.get("slots"), list) and all(isinstance(t, numbers) for t in state["slots"])
            and isinstance(state.get("blocked_until"), numbers) and isinstance(state.get("learned_at"), numbers)
            and isinstance(state.get("updated"), numbers)
            and (state.get("learned_limit") is None or isinstance(state["learned_limit"], int)))


class SlotBook:
    """The bucket arithmetic: a sliding window of ``limit`` sends per ``window`` seconds.

    Every method takes the state dict and the current time and changes the dict
    in place; nothing here reads a clock or a file.  ``slots`` holds the send
    times handed out (past and reserved), in the order they were handed out.
    """

    def __init__(self, limit, window, margin=SAFETY_MARGIN, recovery_windows=RECOVERY_WINDOWS):
        if int(limit) < 1 or float(window) <= 0:
            raise ValueError("a rate limit needs at least 1 request per a positive window")
        self.limit = int(limit)
        self.window = float(window)
        self.margin = float(margin)
        self.recovery_windows = recovery_windows

    @property
    def span(self):
        """Seconds a send blocks its place in the window, margin included."""
        return self.window + self.margin

    def capacity(self, state, now):
        """Sends allowed per window now: the configured limit, or less after a 429 that said so."""
        learned = state["learned_limit"]
        if learned is None:
            return self.limit
        regained = int(max(0.0, now - state["learned_at"]) // (self.window * self.recovery_windows))
        return min(self.limit, learned + regained)

    def tidy(self, state, now):
        """Drop what no longer matters; start over when the clock was set back or the state is foreign."""
        if not _valid(state) or state["updated"] > now + 1.0 or max(state["slots"] + [state["blocked_until"]]) > now + MAX_AHEAD:
            state.clear()
            state.update(fresh_state())
        horizon = now - 2 * self.span  # a 429 looks back one window from a send that may be a window old
        state["slots"] = [t for t in state["slots"] if t > horizon]
        if state["learned_limit"] is not None and self.capacity(state, now) >= self.limit:
            state["learned_limit"] = None
        state["updated"] = now

    def reserve(self, state, now, max_wait=None):
        """Take the next free send time, after every earlier reservation (first come, first served).

        A slot further away than ``max_wait`` seconds is returned unreserved, so
        a caller that gives up does not hold up the ones behind it.
        """
        self.tidy(state, now)
        slots = state["slots"]
        at = max([now, state["blocked_until"]] + slots[-1:])
        capacity = self.capacity(state, now)
        if len(slots) >= capacity:
            at = max(at, slots[-capacity] + self.span)
        queued = sum(1 for t in slots if t > now)
        if max_wait is not None and at - now > max_wait:
            return Slot(at, at - now, queued, reserved=False)
        slots.append(at)
        return Slot(at, at - now, queued)

    def confirm(self, state, now, slot):
        """After the wait: True to send now; False (slot given back) when a block arrived meanwhile."""
        self.tidy(state, now)
        if state["blocked_until"] <= slot.at:
            return True
        self._give_back(state, slot)
        return False

    def refused(self, state, now, slot, pause):
        """The server answered 429 to the send at ``slot``: block every send for ``pause`` seconds.

        The refused send did not count at the server, so its slot is given back.
        Had some, but fewer than the capacity, of our sends gone through in the
        window before it, the server's limit for us is lower (another client
        uses the key, or the key's limit is lower than configured): the capacity
        shrinks to what got through, and grows back over time.  With none of ours
        in the window the refusal tells nothing about the limit, only the block.
        """
        self.tidy(state, now)
        self._give_back(state, slot)
        state["blocked_until"] = max(state["blocked_until"], now + max(0.0, pause) + self.margin)
        if slot.at < now - self.span:  # an answer that slow says nothing about the window
            return
        admitted = sum(1 for t in state["slots"] if slot.at - self.window < t < slot.at)  # sent at the same time: no order
        if 0 < admitted < self.capacity(state, now):
            state["learned_limit"] = admitted
            state["learned_at"] = now

    @staticmethod
    def _give_back(state, slot):
        if slot.at in state["slots"]:
            state["slots"].remove(slot.at)


class Pacer:
    """Hands out send slots from a ``SlotBook``; subclasses say where the book's state lives."""

    def __init__(self, book, clock=time.time):
        self.book = book
        self._clock = clock

    def reserve(self, max_wait=None):
        """The next free slot (see ``SlotBook.reserve``); the caller waits ``slot.wait`` seconds."""
        return self._update(lambda state, now: self.book.reserve(state, now, max_wait))

    def confirm(self, slot):
        """After waiting for ``slot``: False when the caller must reserve again."""
        return self._update(lambda state, now: self.book.confirm(state, now, slot))

    def refused(self, slot, pause):
        """The send at ``slot`` got a 429 asking for ``pause`` seconds: every request waits them out."""
        self._update(lambda state, now: self.book.refused(state, now, slot, pause))

    def _update(self, change):
        raise NotImplementedError


class LocalPacer(Pacer):
    """A book for this process only: when the shared files cannot be used, or for tests."""

    def __init__(self, book, clock=time.time):
        super().__init__(book, clock)
        self._state = fresh_state()
        self._lock = threading.Lock()

    def _update(self, change):
        with self._lock:
            return change(self._state, self._clock())


def state_directory():
    """Where the books live: ``$XDG_RUNTIME_DIR/clickhouse-cloud``, else a per-user temp directory."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK | os.X_OK):
        return os.path.join(runtime, "clickhouse-cloud")
    return os.path.join(tempfile.gettempdir(), "clickhouse-cloud-%d" % os.getuid())


def book_name(api_url, key_id):
    """File name of one key's book: a hash of the API URL and key id (never the secret)."""
    text = "%s\n%s" % (normalize_base_url(api_url).lower(), key_id)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _private_directory(path):
    """Create ``path`` mode 0700, or accept it only when it is ours, a real directory, and private."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise OSError("%s is not a directory of user %d" % (path, os.getuid()))
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)


_OPEN_FLAGS = os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


class SharedPacer(Pacer):
    """A book shared through ``<directory>/<name>.json``, guarded by ``flock`` on ``<name>.lock``.

    Every ``_update`` opens the lock file, locks it, reads the book, applies the
    change, writes the book (to a temporary file renamed over it, so a killed
    process leaves the old book, not half a new one) and unlocks.  When that
    fails with an OS error the pacer logs once and goes on with a book of its
    own: pacing this process alone is better than failing the task.
    """

    def __init__(self, directory, name, book, clock=time.time, log=None):
        super().__init__(book, clock)
        if fcntl is None:
            raise OSError("file locks (fcntl) are not available on this platform")
        self._log = log or (lambda msg: None)
        self._local = None
        _private_directory(directory)
        self.lock_path = os.path.join(directory, name + ".lock")
        self.state_path = os.path.join(directory, name + ".json")
        os.close(os.open(self.lock_path, os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600))

    def _update(self, change):
        if self._local is None:
            try:
                return self._update_files(change)
            except OSError as exc:
                self._log("rate limit: cannot use the shared pacing state in %s (%s); "
                          "pacing the requests of this process only" % (os.path.dirname(self.state_path), exc))
                self._local = LocalPacer(self.book, self._clock)
        return self._local._update(change)

    def _update_files(self, change):
        lock = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read()
            result = change(state, self._clock())
            self._write(state)
            return result
        finally:
            os.close(lock)  # also releases the lock

    def _read(self):
        try:
            fd = os.open(self.state_path, os.O_RDONLY | _OPEN_FLAGS)
        except FileNotFoundError:
            return fresh_state()
        with os.fdopen(fd, "r", encoding="utf-8") as handle:
            try:
                return json.load(handle)
            except ValueError:
                return fresh_state()  # a foreign or damaged file: tidy() starts over anyway

    def _write(self, state):
        temporary = self.state_path + ".tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _OPEN_FLAGS, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        os.replace(temporary, self.state_path)


def make_pacer(api_url, key_id, rate_limit=DEFAULT_RATE_LIMIT, log=None, directory=None, clock=time.time):
    """The pacer for one API URL and key: shared through files when possible; None when ``off``.

    ``rate_limit`` is the ``N/SECONDS`` text of the ``api_rate_limit`` option
    (ValueError when malformed) or an ``(N, SECONDS)`` pair.
    """
    limit = parse_rate_limit(rate_limit) if isinstance(rate_limit, str) else rate_limit
    if limit is None:
        return None
    log = log or (lambda msg: None)
    book = SlotBook(*limit)
    try:
        return SharedPacer(directory or state_directory(), book_name(api_url, key_id), book, clock, log)
    except OSError as exc:
        log("rate limit: cannot share the pacing state with other processes (%s); "
            "pacing the requests of this process only" % exc)
        return LocalPacer(book, clock)
