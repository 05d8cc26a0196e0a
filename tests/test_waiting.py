"""The tests' one way to wait: `wait_until` returns the awaited value or names what never
happened; `ManualClock` sleeps until the test moves it. No test here depends on time."""

from __future__ import annotations

import threading

import pytest

from tests.support.waiting import ManualClock, NotInTime, wait_until


def test_wait_until_returns_the_conditions_first_truthy_value() -> None:
    answers = iter([None, [], ["found"], ["later"]])
    assert wait_until(lambda: next(answers), interval=0) == ["found"]


def test_ignored_exceptions_mean_not_yet_and_others_propagate() -> None:
    calls = iter([OSError("refused"), OSError("refused"), "up"])

    def server() -> str:
        answer = next(calls)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_until(server, ignore=(OSError,), interval=0) == "up"
    with pytest.raises(ValueError):
        wait_until(lambda: int("x"), ignore=(OSError,))


def test_timing_out_names_what_was_awaited_and_the_last_thing_seen() -> None:
    with pytest.raises(NotInTime) as info:
        wait_until(lambda: 0, 0, what="the sink to start", detail=lambda: "log: bind failed")
    assert "waiting for the sink to start (last seen: 0)" in str(info.value)
    assert str(info.value).endswith("\nlog: bind failed")
    with pytest.raises(NotInTime, match=r"for refused_connection \(last seen: Connection"):
        wait_until(refused_connection, 0, ignore=(OSError,))  # unnamed: the function's name


def refused_connection() -> bool:
    raise ConnectionRefusedError("no one listening")


def test_manual_clock_sleeps_until_the_test_moves_it() -> None:
    clock = ManualClock()
    woke: list[float] = []
    sleeper = threading.Thread(target=lambda: (clock.sleep(5), woke.append(clock.monotonic())))
    sleeper.start()
    wait_until(lambda: clock.sleeping == 1, what="the thread asleep")
    clock.advance(4)
    assert clock.sleeping == 1 and woke == []  # not far enough: still asleep
    clock.advance(1)
    sleeper.join(timeout=60)
    assert woke == [1005.0] and clock.sleeping == 0
