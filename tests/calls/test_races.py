"""Races of the call state machine on PostgreSQL, made deterministic: the first operation is
held inside its transaction (while it holds the call's row lock, or its participant row) until
the second has started and had time to run into it. Without the lock or the unique index, the
second would read the old state and both would win; with them, it waits and then loses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from apps.calls import services
from apps.calls.models import CallParticipant, CallSession, CallState, EndReason
from apps.core.errors import DomainError
from tests.calls.conftest import Pair, make_dm
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HOLD_SECONDS = 0.5


def race(
    monkeypatch: pytest.MonkeyPatch, first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[Any, Any]:
    """Run `first` in a thread, hold it at its publish (inside its transaction) until `second`,
    in another thread, has been started; return both outcomes (a result or a DomainError)."""
    holding = threading.Event()
    publish = services._publish

    def held_publish(*args: Any, **kwargs: Any) -> None:
        publish(*args, **kwargs)
        if threading.current_thread().name == "first":
            holding.set()
            time.sleep(HOLD_SECONDS)

    monkeypatch.setattr(services, "_publish", held_publish)
    outcomes: dict[str, Any] = {}

    def run(name: str, work: Callable[[], Any]) -> None:
        try:
            outcomes[name] = work()
        except DomainError as error:
            outcomes[name] = error
        finally:
            connection.close()

    one = threading.Thread(target=run, args=("first", first), name="first")
    one.start()
    assert holding.wait(10), "the first operation never reached its publish"
    started = time.monotonic()
    two = threading.Thread(target=run, args=("second", second), name="second")
    two.start()
    one.join(30)
    two.join(30)
    # The second really waited for the first (it did not just happen to come later).
    assert time.monotonic() - started >= HOLD_SECONDS * 0.8
    return outcomes["first"], outcomes["second"]


def code(outcome: Any) -> str | None:
    return outcome.code if isinstance(outcome, DomainError) else None


def test_two_accepts_at_once_only_one_wins(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    first, second = race(
        monkeypatch,
        lambda: services.call_accept(user=pair.bob, call_id=call.pk),
        lambda: services.call_accept(user=pair.bob, call_id=call.pk),
    )

    assert isinstance(first, CallSession)
    assert code(second) == "call_already_answered"
    assert CallSession.objects.get(pk=call.pk).state == CallState.ACTIVE


def test_an_accept_racing_a_cancel_loses_to_it(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    first, second = race(
        monkeypatch,
        lambda: services.call_cancel(user=pair.alice, call_id=call.pk),
        lambda: services.call_accept(user=pair.bob, call_id=call.pk),
    )

    assert first.end_reason == EndReason.CANCELLED
    assert code(second) == "call_ended"
    assert CallSession.objects.get(pk=call.pk).end_reason == EndReason.CANCELLED


def test_a_cancel_racing_an_accept_loses_to_it(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    first, second = race(
        monkeypatch,
        lambda: services.call_accept(user=pair.bob, call_id=call.pk),
        lambda: services.call_cancel(user=pair.alice, call_id=call.pk),
    )

    assert first.state == CallState.ACTIVE
    assert code(second) == "call_already_answered"


def test_two_people_calling_the_same_person_at_once_one_gets_busy(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    carol = UserFactory(username="carol")
    carols_dm = make_dm(carol, pair.bob)

    first, second = race(
        monkeypatch,
        lambda: services.call_start(user=pair.alice, channel_id=pair.dm.pk),
        lambda: services.call_start(user=carol, channel_id=carols_dm.pk),
    )

    assert first.state == CallState.RINGING
    assert (second.state, second.end_reason) == (CallState.ENDED, EndReason.BUSY)
    assert CallParticipant.objects.filter(user=pair.bob, state="ringing").count() == 1
