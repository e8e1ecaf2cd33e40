"""`FrameValidator` (the compiled fast path of an input serializer) answers exactly what the
serializer answers: the same validated data for input it accepts, the serializer's own
ValidationError for anything else."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from apps.chat import serializers as s
from apps.core import inputs
from apps.core.api import validated
from apps.core.inputs import FrameValidator, NotCompilable, StrictCharField, StrictIntegerField

FRAMES = [
    s.MessageSendFrame,
    s.MessageEditFrame,
    s.MessageDeleteFrame,
    s.ReactionFrame,
    s.ReadFrame,
    s.TypingFrame,
    s.PresenceSetFrame,
]

U1, U2 = str(uuid.uuid4()), str(uuid.uuid4()).upper()
# Values for every field name the frames use: accepted ones and refused ones of each kind.
VALUES: dict[str, list[Any]] = {
    "channel_id": [1, 0, -5, 2**63 - 1, 2**63, -(2**63) - 1, "1", 1.0, True, None, [1]],
    "message_id": [7, "7", 7.5, False, None],
    "body": ["hi", "", "  padded  ", "a\x00b", "中文 ✓", "x" * 10_000, 5, None, ["x"], "\ud800"],
    "client_msg_id": [U1, U2, U1.replace("-", ""), "", "nope", 123, None, [U1]],
    "thread_root_id": [3, None, "3", 0, -1, 2**64],
    "attachment_ids": [[], [U1], [U1, U2], ["nope"], [U1] * 51, [U1] * 50, "x", None, [None], [1]],
    "emoji": ["👍", " 👍 ", "", "   ", "x" * 64, "x" * 65, 1, None],
    "seq": [0, 5, -1, "3", 2**63, None, 1.0],
    "status": ["online", "away", "", 1, None],
}
ABSENT = object()


def _frames(serializer_class: type[serializers.Serializer[Any]]) -> list[dict[str, Any]]:
    """A valid base frame, then each field varied through its values and left out."""
    names = list(serializer_class().fields)
    base = {name: VALUES[name][0] for name in names}
    frames = [{"type": "x", "ref": 1, **base}]
    for name in names:
        for value in [*VALUES[name], ABSENT]:
            frame = {**base, name: value}
            frames.append({k: v for k, v in frame.items() if v is not ABSENT})
    return frames


def _outcome(check: Any, frame: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", check(frame)
    except ValidationError as error:
        return "error", error.detail


@pytest.mark.parametrize("serializer_class", FRAMES, ids=lambda c: c.__name__)
def test_the_fast_path_answers_what_the_serializer_answers(
    serializer_class: type[serializers.Serializer[Any]],
) -> None:
    fast = FrameValidator(serializer_class)
    frames = _frames(serializer_class)

    for frame in frames:
        assert _outcome(fast, frame) == _outcome(
            lambda data: validated(serializer_class, data), frame
        ), frame
    outcomes = {_outcome(fast, frame)[0] for frame in frames}
    assert outcomes == {"ok", "error"}  # the table holds both


def test_the_fast_path_does_not_call_the_serializer_for_valid_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = FrameValidator(s.MessageSendFrame)

    def no_serializer(*args: Any) -> Any:
        raise AssertionError("the serializer ran")

    monkeypatch.setattr(inputs, "validated", no_serializer)
    frame = {"channel_id": 1, "body": "hi", "client_msg_id": U1, "attachment_ids": [U2]}

    assert fast(frame) == {
        "channel_id": 1,
        "body": "hi",
        "client_msg_id": uuid.UUID(U1),
        "attachment_ids": [uuid.UUID(U2)],
    }


def test_a_serializer_that_validates_in_code_is_not_compiled() -> None:
    class WithValidate(serializers.Serializer[Any]):
        n = StrictIntegerField()

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            return attrs

    with pytest.raises(NotCompilable):
        FrameValidator(WithValidate)


def test_a_field_the_fast_path_does_not_know_is_not_compiled() -> None:
    class WithBoolean(serializers.Serializer[Any]):
        flag = serializers.BooleanField()
        name = StrictCharField()

    with pytest.raises(NotCompilable):
        FrameValidator(WithBoolean)
