# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client-side pacer: the bucket arithmetic on a fake clock, its files, and processes sharing them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.clickhouse.cloud.plugins.module_utils._pacer import (
    LocalPacer,
    SharedPacer,
    Slot,
    SlotBook,
    book_name,
    fresh_state,
    make_pacer,
    parse_rate_limit,
    state_directory,
)

# -- parse_rate_limit -------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("10/10", (10, 10.0)),
    (" 5/0.5 ", (5, 0.5)),
    ("off", None),
    ("OFF", None),
])
def test_parse_rate_limit(text, expected):
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("text", ["10", "0/10", "10/0", "10/-1", "a/b", "", "10/", "/10", "10/inf", "10/nan", "1.5/10"])
def test_parse_rate_limit_says_what_is_wrong(text):
    with pytest.raises(ValueError, match=r"api_rate_limit must be N/SECONDS .* or off; got"):
        parse_rate_limit(text)


# -- SlotBook: the arithmetic, on plain times ---------------------------------------


def reserve_all(book, state, times):
    """Reserve one slot at each of ``times``: the slots handed out."""
    return [book.reserve(state, now) for now in times]


@pytest.mark.parametrize("limit, window, margin, times, expected_at", [
    # a burst up to the limit goes at once, the rest one window after the send it replaces
    (3, 10, 0, [0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 10, 10, 10, 20]),
    # the margin is added to every window
    (2, 10, 0.5, [0, 0, 0, 0], [0, 0, 10.5, 10.5]),
    # sends spread over the window free their places one by one
    (3, 10, 0, [0, 4, 8, 9], [0, 4, 8, 10]),
    # a caller at the window edge exactly goes (the server forgets a send W seconds later)
    (3, 10, 0, [0, 4, 8, 10], [0, 4, 8, 10]),
    # after a quiet window everything is free again
    (2, 10, 0, [0, 0, 25, 25, 25], [0, 0, 25, 25, 35]),
])
def test_slots(limit, window, margin, times, expected_at):
    book, state = SlotBook(limit, window, margin=margin), fresh_state()
    assert [slot.at for slot in reserve_all(book, state, times)] == expected_at


def test_reservations_are_served_in_order_and_count_the_queue():
    book, state = SlotBook(2, 10, margin=0), fresh_state()
    slots = reserve_all(book, state, [0, 0, 1, 1, 2, 2])
    assert [(s.at, s.wait, s.queued) for s in slots] == [
        (0, 0, 0), (0, 0, 0),  # the burst: nobody ahead
        (10, 9, 0), (10, 9, 1),  # waiting; the second sees the first one queued
        (20, 18, 2), (20, 18, 3),
    ]
    assert state["slots"] == sorted(state["slots"])


def test_a_slot_beyond_max_wait_is_not_taken():
    book, state = SlotBook(1, 10, margin=0), fresh_state()
    book.reserve(state, 0)
    refused = book.reserve(state, 0, max_wait=5)
    assert (refused.reserved, refused.wait, refused.queued) == (False, 10, 0)
    assert state["slots"] == [0]  # the caller behind is not held up by the one that gave up
    assert book.reserve(state, 0, max_wait=10).at == 10


@pytest.mark.parametrize("pause, now, expected_next", [
    (3.0, 5, 8.25),  # the hint plus the margin
    (0.0, 5, 5.25),
    (-1.0, 5, 5.25),  # a negative hint is no hint
])
def test_refusal_blocks_every_caller_for_the_hint(pause, now, expected_next):
    book, state = SlotBook(10, 10, margin=0.25), fresh_state()
    sent = book.reserve(state, now)
    book.refused(state, now, sent, pause)
    assert book.reserve(state, now).at == expected_next


def test_a_later_shorter_hint_does_not_shorten_the_block():
    book, state = SlotBook(10, 10, margin=0), fresh_state()
    first, second = reserve_all(book, state, [0, 0])
    book.refused(state, 0, first, 8)
    book.refused(state, 0, second, 2)
    assert state["blocked_until"] == 8


def test_a_block_that_arrives_while_waiting_sends_the_waiter_back_in_line():
    book, state = SlotBook(1, 10, margin=0), fresh_state()
    sent, waiting = reserve_all(book, state, [0, 0])
    assert waiting.at == 10
    book.refused(state, 1, sent, 20)  # the send at 0 got a 429 asking for 20 s
    assert not book.confirm(state, 10, waiting)
    assert waiting.at not in state["slots"]  # its place was given back
    assert book.reserve(state, 10).at == 21
    assert book.confirm(state, 21, Slot(21, 0, 0))


@pytest.mark.parametrize("limit, sent_before, expected_capacity", [
    (5, 2, 2),  # two got through, the third was refused: the key has room for two
    (5, 4, 4),
    (5, 0, 5),  # none of ours in the window: someone else filled it, which says nothing about the limit
])
def test_refusal_while_we_had_room_shrinks_the_bucket(limit, sent_before, expected_capacity):
    book, state = SlotBook(limit, 10, margin=0), fresh_state()
    reserve_all(book, state, [0] * sent_before)
    refused = book.reserve(state, 1)
    book.refused(state, 1, refused, 0)
    assert book.capacity(state, 1) == expected_capacity
    assert len(state["slots"]) == sent_before  # a refused send does not count at the server


def test_shrunk_bucket_paces_at_the_learned_limit():
    book, state = SlotBook(5, 10, margin=0), fresh_state()
    reserve_all(book, state, [0, 1])
    book.refused(state, 2, book.reserve(state, 2), 0)
    assert [s.at for s in reserve_all(book, state, [2, 2, 2])] == [10, 11, 20]


@pytest.mark.parametrize("recovery_windows, times, expected", [
    (1, (1, 10.9, 11, 21, 31, 41), [1, 1, 2, 3, 4, 4]),
    (2, (1, 20.9, 21, 41, 61, 81), [1, 1, 2, 3, 4, 4]),
])
def test_shrunk_bucket_grows_back_one_request_per_recovery_period(recovery_windows, times, expected):
    book, state = SlotBook(4, 10, margin=0, recovery_windows=recovery_windows), fresh_state()
    book.reserve(state, 0)
    book.refused(state, 1, book.reserve(state, 1), 0)  # one got through, the next was refused
    assert [book.capacity(state, now) for now in times] == expected
    book.tidy(state, times[-2])
    assert state["learned_limit"] is None  # back at the configured limit: forgotten


def test_a_second_refusal_of_the_same_burst_does_not_shrink_further():
    book, state = SlotBook(10, 10, margin=0), fresh_state()
    reserve_all(book, state, [0] * 5)
    sixth, seventh = reserve_all(book, state, [1, 1])
    book.refused(state, 1, sixth, 0)
    book.refused(state, 1, seventh, 0)
    assert book.capacity(state, 1) == 5


def test_a_refusal_whose_answer_came_very_late_teaches_nothing():
    book, state = SlotBook(5, 10, margin=0), fresh_state()
    slow = book.reserve(state, 0)
    book.refused(state, 30, slow, 1)
    assert book.capacity(state, 30) == 5 and state["blocked_until"] == 31


@pytest.mark.parametrize("state", [
    {"slots": "nonsense"},
    dict(fresh_state(), version=99, slots=[5.0]),
    dict(fresh_state(), slots=[5.0], updated=500.0),  # written after "now": the clock was set back
    dict(fresh_state(), blocked_until=1e9),  # far ahead: the same
    dict(fresh_state(), slots=[1, "x"]),
])
def test_tidy_starts_over_on_a_foreign_or_impossible_state(state):
    book = SlotBook(2, 10)
    book.tidy(state, 100.0)
    assert state == dict(fresh_state(), updated=100.0)


def test_tidy_forgets_sends_that_no_longer_matter():
    book, state = SlotBook(2, 10, margin=0), fresh_state()
    reserve_all(book, state, [0, 5, 15])
    book.tidy(state, 26)
    assert state["slots"] == [15]


def test_local_pacer_uses_its_clock():
    now = [50.0]
    pacer = LocalPacer(SlotBook(1, 10, margin=0), clock=lambda: now[0])
    assert pacer.reserve().wait == 0
    waiting = pacer.reserve()
    assert (waiting.at, waiting.wait) == (60.0, 10.0)
    now[0] = 60.0
    assert pacer.confirm(waiting)


# -- the files --------------------------------------------------------------------


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_book_name_hashes_url_and_key_id():
    name = book_name("https://api.clickhouse.cloud", "key-id")
    assert name == book_name("https://api.clickhouse.cloud/v1/", "key-id")  # the URL as the transport uses it
    assert name != book_name("https://api.clickhouse.cloud", "other-key")
    assert name != book_name("http://127.0.0.1:8080", "key-id")
    assert len(name) == 32 and "key" not in name


def test_shared_pacer_files_are_private_and_shared(tmp_path):
    directory = tmp_path / "books"
    first = make_pacer("https://api.example.test", "key-id", "2/10", directory=str(directory))
    second = make_pacer("https://api.example.test/v1", "key-id", "2/10", directory=str(directory))
    assert isinstance(first, SharedPacer)
    first.reserve()
    first.reserve()
    assert second.reserve().wait > 9  # the second process sees the first one's sends
    assert mode(directory) == 0o700
    assert sorted(os.listdir(directory)) == sorted([first.lock_path.rsplit("/", 1)[1], first.state_path.rsplit("/", 1)[1]])
    for path in (first.lock_path, first.state_path):
        assert mode(path) == 0o600
    text = open(first.state_path, encoding="utf-8").read()
    assert "key-id" not in text and len(json.loads(text)["slots"]) == 3


def test_existing_directory_is_made_private(tmp_path):
    directory = tmp_path / "books"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    make_pacer("https://api.example.test", "k", directory=str(directory))
    assert mode(directory) == 0o700


def test_a_damaged_state_file_starts_over(tmp_path):
    pacer = make_pacer("https://api.example.test", "k", "1/10", directory=str(tmp_path / "books"))
    pacer.reserve()
    with open(pacer.state_path, "w", encoding="utf-8") as handle:
        handle.write("{half a book")
    assert pacer.reserve().wait == 0


@pytest.mark.parametrize("make_unusable", [
    lambda path: path.write_text("a file, not a directory"),
    lambda path: os.symlink(str(path.parent), str(path)),  # someone else's link, say in /tmp
])
def test_unusable_directory_falls_back_to_this_process_with_a_log_line(tmp_path, make_unusable):
    directory = tmp_path / "books"
    make_unusable(directory)
    logged = []
    pacer = make_pacer("https://api.example.test", "k", "1/10", log=logged.append, directory=str(directory))
    assert isinstance(pacer, LocalPacer)
    assert pacer.reserve().wait == 0 and pacer.reserve().wait > 9
    assert len(logged) == 1 and "pacing the requests of this process only" in logged[0]


def test_directory_that_breaks_later_falls_back_once(tmp_path):
    directory = tmp_path / "books"
    logged = []
    pacer = make_pacer("https://api.example.test", "k", "1/10", log=logged.append, directory=str(directory))
    pacer.reserve()
    os.chmod(directory, 0o700)
    for name in os.listdir(directory):
        os.unlink(directory / name)
    directory.rmdir()
    directory.write_text("gone")  # a read-only or vanished runtime dir looks the same to open()
    assert pacer.reserve().wait == 0  # a fresh book of its own
    assert pacer.reserve().wait > 9
    assert len(logged) == 1 and "cannot use the shared pacing state" in logged[0]


def test_rate_limit_off_means_no_pacer(tmp_path):
    assert make_pacer("https://api.example.test", "k", "off", directory=str(tmp_path)) is None
    with pytest.raises(ValueError):
        make_pacer("https://api.example.test", "k", "ten per ten", directory=str(tmp_path))


def test_state_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert state_directory() == str(tmp_path / "clickhouse-cloud")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    fallback = state_directory()
    assert fallback.endswith("clickhouse-cloud-%d" % os.getuid()) and not fallback.startswith(str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert state_directory() == fallback


# -- processes sharing one book -----------------------------------------------------------

SENDER = textwrap.dedent("""
    import json, sys, time
    from ansible_collections.clickhouse.cloud.plugins.module_utils._pacer import SharedPacer, SlotBook

    directory, start, sends, limit, window, margin = sys.argv[1:]
    pacer = SharedPacer(directory, "fleet", SlotBook(int(limit), float(window), margin=float(margin)))
    time.sleep(max(0.0, float(start) - time.time()))
    sent = []
    for _ in range(int(sends)):
        while True:
            slot = pacer.reserve()
            time.sleep(max(0.0, slot.wait))
            if pacer.confirm(slot):
                break
        sent.append((time.time(), slot.at))
    print(json.dumps(sent))
""")


def most_in_any_window(times, window):
    """The largest number of ``times`` inside one half-open interval of ``window`` seconds."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + window) for i, start in enumerate(times))


def test_processes_sharing_a_book_never_exceed_the_limit(tmp_path):
    processes, sends, limit, window, margin = 8, 3, 5, 1.0, 0.2
    start = time.time() + 1.5  # let every interpreter start before the first slot
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    children = [subprocess.Popen([sys.executable, "-c", SENDER, str(tmp_path / "books"), repr(start), str(sends),
                                  str(limit), str(window), str(margin)], stdout=subprocess.PIPE, env=env, text=True)
                for _ignored in range(processes)]
    outputs = [child.communicate(timeout=60)[0] for child in children]
    assert [child.returncode for child in children] == [0] * processes
    sent = [pair for output in outputs for pair in json.loads(output)]
    assert len(sent) == processes * sends
    sent_at, slot_at = [pair[0] for pair in sent], [pair[1] for pair in sent]
    assert most_in_any_window(slot_at, window + margin) == limit  # the book itself, exactly
    assert most_in_any_window(sent_at, window) <= limit  # what a server would have seen
    windows_needed = (processes * sends - 1) // limit
    assert max(sent_at) - min(sent_at) < windows_needed * (window + margin) + 2.0  # paced, not stalled


# -- the module option ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["option", "environment"])
def test_module_rejects_malformed_rate_limit_cleanly(monkeypatch, capsys, where):
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.clickhouse.cloud.plugins.modules import postgres_info

    args = {"api_url": "http://127.0.0.1:9", "api_key_id": "unit-key", "api_key_secret": "unit-secret-never-sent",
            "organization_id": "11111111-2222-4333-8444-555555555555"}
    if where == "option":
        args["api_rate_limit"] = "fast"
    else:
        monkeypatch.setenv("CLICKHOUSE_API_RATE_LIMIT", "fast")
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            postgres_info.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and "api_rate_limit must be N/SECONDS" in result["msg"] and "'fast'" in result["msg"]
    assert "exception" not in result
