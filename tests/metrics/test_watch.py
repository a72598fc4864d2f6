"""Which events a metrics worker keeps counting, and how often it may count each."""

from __future__ import annotations

from bilten.workers.dashboard_watch import RENOTE_S, WATCH_S, DashboardWatch


def test_news_is_recorded_once_per_renote_window_and_forgotten_after_an_hour() -> None:
    watch = DashboardWatch()
    assert watch.note(1, 100.0) is True
    assert watch.note(1, 100.0 + RENOTE_S / 2) is False  # a storm writes Redis rarely
    assert watch.note(1, 100.0 + RENOTE_S) is True
    assert watch.note(2, 100.0) is True
    assert watch.events(100.0 + WATCH_S + 1) == {1}  # 2 had no news for an hour
    assert watch.events(100.0 + RENOTE_S + WATCH_S + 1) == set()


def test_an_event_is_counted_at_most_once_a_second() -> None:
    watch = DashboardWatch()
    watch.note(1, 0.0)
    assert watch.may_count(1, 0.0)
    watch.counted(1, 0.0)
    assert not watch.may_count(1, 0.999)
    assert watch.may_count(1, 1.0)
    watch.forget(1)
    assert watch.events(1.0) == set()
