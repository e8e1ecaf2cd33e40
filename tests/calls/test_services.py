"""The call state machine through its services: ring, accept, decline, cancel, hang up, busy,
missed (the ring timeout's task and the sweep), lost calls, and the record in the DM."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.calls import services
from apps.calls.models import (
    CallParticipant,
    CallSession,
    CallState,
    EndReason,
    ParticipantState,
)
from apps.chat.models import ChannelKind, Message
from apps.core.errors import DomainError
from tests.calls.conftest import Pair, make_dm
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def error_code(call: Any) -> str:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value.code


def states(call: CallSession) -> dict[str, str]:
    return dict(CallParticipant.objects.filter(call=call).values_list("user__username", "state"))


def records(pair: Pair) -> list[str]:
    return list(
        Message.objects.filter(channel=pair.dm).order_by("seq").values_list("body", flat=True)
    )


def test_start_rings_the_other_person_of_the_dm(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk, media="video")

    assert (call.state, call.kind, call.media, call.initiator_id) == (
        CallState.RINGING,
        "p2p",
        "video",
        pair.alice.pk,
    )
    assert states(call) == {"alice": ParticipantState.JOINED, "bob": ParticipantState.RINGING}
    assert call.ring_deadline > call.started_at


def test_accept_makes_the_call_active(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    accepted = services.call_accept(user=pair.bob, call_id=call.pk)

    assert accepted.state == CallState.ACTIVE
    assert accepted.answered_at is not None
    assert states(call) == {"alice": ParticipantState.JOINED, "bob": ParticipantState.JOINED}


def test_the_caller_cannot_answer_their_own_call(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    assert (
        error_code(lambda: services.call_accept(user=pair.alice, call_id=call.pk)) == "not_callee"
    )


def test_a_second_accept_is_refused(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    services.call_accept(user=pair.bob, call_id=call.pk)

    assert (
        error_code(lambda: services.call_accept(user=pair.bob, call_id=call.pk))
        == "call_already_answered"
    )


def test_decline_ends_the_call_declined_and_records_it(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    declined = services.call_decline(user=pair.bob, call_id=call.pk)

    assert (declined.state, declined.end_reason) == (CallState.ENDED, EndReason.DECLINED)
    assert states(call) == {"alice": ParticipantState.LEFT, "bob": ParticipantState.DECLINED}
    assert records(pair) == ["📞 Declined call"]


def test_cancel_ends_a_ringing_call_cancelled(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    cancelled = services.call_cancel(user=pair.alice, call_id=call.pk)

    assert (cancelled.state, cancelled.end_reason) == (CallState.ENDED, EndReason.CANCELLED)
    assert states(call)["bob"] == ParticipantState.MISSED
    assert records(pair) == ["📞 Cancelled call"]


def test_only_the_caller_cancels(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    assert (
        error_code(lambda: services.call_cancel(user=pair.bob, call_id=call.pk)) == "not_initiator"
    )


def test_accept_after_cancel_is_refused_as_ended(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    services.call_cancel(user=pair.alice, call_id=call.pk)

    assert error_code(lambda: services.call_accept(user=pair.bob, call_id=call.pk)) == "call_ended"
    assert CallSession.objects.get(pk=call.pk).end_reason == EndReason.CANCELLED


def test_hangup_ends_an_active_call_with_its_duration_recorded(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    services.call_accept(user=pair.bob, call_id=call.pk)
    CallSession.objects.filter(pk=call.pk).update(
        answered_at=timezone.now() - timedelta(minutes=3, seconds=25)
    )

    ended = services.call_hangup(user=pair.bob, call_id=call.pk)

    assert (ended.state, ended.end_reason) == (CallState.ENDED, EndReason.ENDED)
    assert states(call) == {"alice": ParticipantState.LEFT, "bob": ParticipantState.LEFT}
    assert records(pair) == ["📞 Call ended · 3:25"]


def test_hangup_of_an_ended_call_changes_nothing(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    services.call_decline(user=pair.bob, call_id=call.pk)

    again = services.call_hangup(user=pair.alice, call_id=call.pk)

    assert again.end_reason == EndReason.DECLINED
    assert records(pair) == ["📞 Declined call"]


def test_hangup_while_ringing_is_a_cancel_for_the_caller_and_a_decline_for_the_callee(
    pair: Pair,
) -> None:
    first = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    assert services.call_hangup(user=pair.alice, call_id=first.pk).end_reason == "cancelled"
    second = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    assert services.call_hangup(user=pair.bob, call_id=second.pk).end_reason == "declined"


def test_calling_someone_in_another_call_ends_busy(pair: Pair) -> None:
    carol = UserFactory(username="carol")
    services.call_start(user=carol, channel_id=make_dm(carol, pair.bob).pk)

    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    assert (call.state, call.end_reason) == (CallState.ENDED, EndReason.BUSY)
    assert states(call) == {"alice": ParticipantState.LEFT, "bob": ParticipantState.BUSY}
    assert records(pair) == ["📞 Call not answered: busy"]


def test_a_caller_already_in_a_call_cannot_start_another(pair: Pair) -> None:
    carol = UserFactory(username="carol")
    services.call_start(user=pair.alice, channel_id=make_dm(pair.alice, carol).pk)

    assert (
        error_code(lambda: services.call_start(user=pair.alice, channel_id=pair.dm.pk))
        == "already_in_call"
    )
    assert CallSession.objects.count() == 1


def test_ring_timeout_task_ends_the_call_missed(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    assert services.call_expire(call_id=call.pk) is False  # still ringing its time
    CallSession.objects.filter(pk=call.pk).update(ring_deadline=timezone.now())

    assert services.call_expire(call_id=call.pk) is True

    call.refresh_from_db()
    assert (call.state, call.end_reason) == (CallState.ENDED, EndReason.MISSED)
    assert states(call)["bob"] == ParticipantState.MISSED
    assert records(pair) == ["📞 Missed call"]


def test_sweep_ends_rings_past_their_deadline_and_nothing_else(pair: Pair) -> None:
    due = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    CallSession.objects.filter(pk=due.pk).update(ring_deadline=timezone.now())
    carol, dave = UserFactory(username="carol"), UserFactory(username="dave")
    fresh = services.call_start(user=carol, channel_id=make_dm(carol, dave).pk)

    assert services.calls_sweep() == 1

    assert CallSession.objects.get(pk=due.pk).end_reason == EndReason.MISSED
    assert CallSession.objects.get(pk=fresh.pk).state == CallState.RINGING


def test_sweep_ends_an_active_call_whose_participant_went_silent(pair: Pair, settings: Any) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    services.call_accept(user=pair.bob, call_id=call.pk)
    old = timezone.now() - timedelta(seconds=settings.ENCLAVE_CALL_STALE_SECONDS + 1)
    CallParticipant.objects.filter(call=call, user=pair.bob).update(last_seen_at=old)

    assert services.calls_sweep() == 1

    assert CallSession.objects.get(pk=call.pk).end_reason == EndReason.FAILED


def test_heartbeat_keeps_an_active_call_alive(pair: Pair, settings: Any) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    services.call_accept(user=pair.bob, call_id=call.pk)
    old = timezone.now() - timedelta(seconds=settings.ENCLAVE_CALL_STALE_SECONDS + 1)
    CallParticipant.objects.filter(call=call).update(last_seen_at=old)

    services.call_heartbeat(user=pair.alice, call_id=call.pk)
    services.call_heartbeat(user=pair.bob, call_id=call.pk)

    assert services.calls_sweep() == 0


def test_accept_after_the_ring_time_is_refused_and_the_call_is_missed(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    CallSession.objects.filter(pk=call.pk).update(ring_deadline=timezone.now())

    assert error_code(lambda: services.call_accept(user=pair.bob, call_id=call.pk)) == "call_ended"
    assert CallSession.objects.get(pk=call.pk).end_reason == EndReason.MISSED


def test_cancel_after_the_ring_time_is_a_missed_call(pair: Pair) -> None:
    # The embedded mode has no Celery beat: the caller's client cancels when the ring is over.
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    CallSession.objects.filter(pk=call.pk).update(ring_deadline=timezone.now())

    ended = services.call_cancel(user=pair.alice, call_id=call.pk)

    assert ended.end_reason == EndReason.MISSED
    assert records(pair) == ["📞 Missed call"]


def test_a_stale_ring_does_not_make_its_callee_busy(pair: Pair) -> None:
    carol = UserFactory(username="carol")
    stale = services.call_start(user=carol, channel_id=make_dm(carol, pair.bob).pk)
    CallSession.objects.filter(pk=stale.pk).update(ring_deadline=timezone.now())

    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    assert call.state == CallState.RINGING
    assert CallSession.objects.get(pk=stale.pk).end_reason == EndReason.MISSED


def test_calls_only_in_direct_messages(pair: Pair, make_channel: Any) -> None:
    room = make_channel(kind=ChannelKind.PUBLIC, members=(pair.alice, pair.bob))
    group = make_dm(pair.alice, pair.bob, UserFactory())

    for channel in (room, group):
        assert (
            error_code(lambda c=channel: services.call_start(user=pair.alice, channel_id=c.pk))
            == "not_direct_channel"
        )


def test_an_outsider_cannot_call_into_a_dm(pair: Pair) -> None:
    outsider = UserFactory(username="eve")

    assert (
        error_code(lambda: services.call_start(user=outsider, channel_id=pair.dm.pk))
        == "channel_not_found"
    )


def test_an_outsider_cannot_touch_someone_elses_call(pair: Pair) -> None:
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)
    outsider = UserFactory(username="eve")

    for service in (
        services.call_accept,
        services.call_decline,
        services.call_cancel,
        services.call_hangup,
        services.call_heartbeat,
    ):
        assert error_code(lambda s=service: s(user=outsider, call_id=call.pk)) == "call_not_found"
    assert CallSession.objects.get(pk=call.pk).state == CallState.RINGING


def test_nobody_to_call_when_the_other_person_is_deactivated(pair: Pair) -> None:
    pair.bob.is_active = False
    pair.bob.save(update_fields=["is_active"])

    assert (
        error_code(lambda: services.call_start(user=pair.alice, channel_id=pair.dm.pk))
        == "callee_unavailable"
    )


def test_the_record_is_in_the_callers_language(pair: Pair) -> None:
    pair.alice.language = "zh-hans"
    pair.alice.save(update_fields=["language"])
    call = services.call_start(user=pair.alice, channel_id=pair.dm.pk)

    services.call_decline(user=pair.bob, call_id=call.pk)

    assert records(pair) == ["📞 已拒绝的通话"]


def test_a_guest_calls_like_they_post_in_their_dm(calls_flag: None, make_channel: Any) -> None:
    guest = UserFactory(username="gary", role="guest")
    colleague = UserFactory(username="carol")
    make_channel(kind=ChannelKind.PRIVATE, members=(guest, colleague))
    dm = make_dm(guest, colleague)

    call = services.call_start(user=guest, channel_id=dm.pk)

    assert call.state == CallState.RINGING


def test_a_guest_cannot_call_into_a_dm_of_others(pair: Pair) -> None:
    guest = UserFactory(username="gary", role="guest")

    assert (
        error_code(lambda: services.call_start(user=guest, channel_id=pair.dm.pk))
        == "channel_not_found"
    )
