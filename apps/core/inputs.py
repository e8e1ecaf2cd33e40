"""One definition of an operation's input for REST and the WebSocket: strict JSON fields and
the compiled fast path of a serializer.

REST views validate a body with `apps.core.api.validated(InputSerializer, data)`; the `/ws/`
consumer validates a frame with the same serializer (`FrameValidator`), so a field is
required, typed and bounded alike on both paths (docs/architecture/realtime.md, "One rule
per input").

The fields here take JSON as it is: an integer must be a JSON integer, a string a JSON string
(DRF's own fields also take `"5"` for 5 and `5` for `"5"`, which the socket refused). A field
may give a failure a code of its own (`codes={"min_value": "invalid_seq"}`): the socket
answers with that code, REST with `invalid` and the field's messages as always.

`FrameValidator` exists because the socket's `message.send` is the hot path: DRF's
`run_validation` costs tens of microseconds a frame (tests/load/bench_frame_validation.py).
It reads the serializer's bound fields once and compiles a plain check per field that
accepts only input the serializer accepts and returns what the serializer returns; any other
input (every refusal, and any field or option it does not know) goes through the serializer
itself, so errors are always the serializer's. tests/core/test_inputs.py holds the two equal.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinLengthValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from apps.core.api import DB_INT_MAX, DB_INT_MIN, BoundedIntegerField, validated

# Every code a field gives a failure of its own (`codes=`): the socket answers these as they
# are, any other field failure as `invalid_field` (apps.chat.consumers).
OWN_CODES: set[str] = set()


class _Coded:
    """A field whose failures may carry codes of their own (`codes={"required": "..."}`)."""

    codes: Mapping[str, str]

    def _take_codes(self, kwargs: dict[str, Any]) -> None:
        self.codes = kwargs.pop("codes", {})
        OWN_CODES.update(self.codes.values())

    def fail(self, key: str, **kwargs: Any) -> Any:
        try:
            return super().fail(key, **kwargs)  # type: ignore[misc]
        except ValidationError as error:
            code = self.codes.get(key)
            if code is None:
                raise
            # A plain str: an ErrorDetail would keep its own code.
            details = error.detail if isinstance(error.detail, list) else [error.detail]
            raise ValidationError(str(details[0]), code=code) from None

    def run_validators(self, value: Any) -> None:
        try:
            super().run_validators(value)  # type: ignore[misc]
        except ValidationError as error:
            details = error.detail if isinstance(error.detail, list) else [error.detail]
            code = self.codes.get(getattr(details[0], "code", ""))
            if code is None:
                raise
            raise ValidationError(str(details[0]), code=code) from None


class StrictIntegerField(_Coded, BoundedIntegerField):
    """A JSON integer (not a bool, a float or a string of digits) within the database's range
    and the given bounds."""

    def __init__(self, **kwargs: Any) -> None:
        self._take_codes(kwargs)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            raise ValidationError(
                _("%(field)s must be an integer.") % {"field": self.field_name},
                code=self.codes.get("type", "type"),
            )
        if self.min_value is not None and data < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        if self.max_value is not None and data > self.max_value:
            self.fail("max_value", max_value=self.max_value)
        return data


class StrictCharField(_Coded, serializers.CharField):
    """A JSON string (a number is refused, not turned into text)."""

    def __init__(self, **kwargs: Any) -> None:
        self._take_codes(kwargs)
        super().__init__(**kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        if data is not empty and data is not None and not isinstance(data, str):
            raise ValidationError(
                _("%(field)s must be a string.") % {"field": self.field_name},
                code=self.codes.get("type", "type"),
            )
        return super().run_validation(data)


class StrictUUIDField(_Coded, serializers.UUIDField):
    """A UUID given as a JSON string (DRF's also takes an integer)."""

    def __init__(self, **kwargs: Any) -> None:
        self._take_codes(kwargs)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str):
            raise ValidationError(
                _("%(field)s must be a string.") % {"field": self.field_name},
                code=self.codes.get("type", "type"),
            )
        if data == "" and "blank" in self.codes:
            self.fail("blank")
        return super().to_internal_value(data)


class StrictListField(_Coded, serializers.ListField):
    """A JSON array (DRF's also takes a dict of a form's `ids[0]`-style keys)."""

    def __init__(self, **kwargs: Any) -> None:
        self._take_codes(kwargs)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[Any]:
        if not isinstance(data, list):
            raise ValidationError(
                _("%(field)s must be a list.") % {"field": self.field_name},
                code=self.codes.get("type", "type"),
            )
        return super().to_internal_value(data)


# --- the compiled fast path ----------------------------------------------------------------------


class _Slow(Exception):
    """The fast check cannot vouch for this value: let the serializer decide."""


_SLOW = _Slow()
_SURROGATE = re.compile("[\ud800-\udfff]")
Check = Callable[[Any], Any]

# Validators a compiled check re-implements; any other on a field keeps it off the fast path.
_KNOWN_VALIDATORS = (
    MaxLengthValidator,
    MinLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)


class NotCompilable(TypeError):
    """The serializer uses something the fast path does not re-implement."""


def _int_check(field: StrictIntegerField) -> Check:
    low = DB_INT_MIN if field.min_value is None else field.min_value
    high = DB_INT_MAX if field.max_value is None else field.max_value

    def check(value: Any) -> Any:
        if type(value) is not int or not low <= value <= high:
            raise _SLOW
        return value

    return check


def _str_check(field: StrictCharField) -> Check:
    trim, allow_blank = field.trim_whitespace, field.allow_blank
    max_length, min_length = field.max_length, field.min_length

    def check(value: Any) -> Any:
        if type(value) is not str:
            raise _SLOW
        if trim:
            value = value.strip()
        if (
            (not value and not allow_blank)
            or (max_length is not None and len(value) > max_length)
            or (min_length is not None and len(value) < min_length)
            or "\x00" in value
            or (not value.isascii() and _SURROGATE.search(value))
        ):
            raise _SLOW
        return value

    return check


def _uuid_check(field: StrictUUIDField) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not str:
            raise _SLOW
        try:
            return uuid.UUID(hex=value)
        except ValueError:
            raise _SLOW from None

    return check


def _list_check(field: StrictListField) -> Check:
    item = _compile_field(field.child)
    max_length, min_length, allow_empty = field.max_length, field.min_length, field.allow_empty

    def check(value: Any) -> Any:
        if type(value) is not list:
            raise _SLOW
        if (
            (not value and not allow_empty)
            or (max_length is not None and len(value) > max_length)
            or (min_length is not None and len(value) < min_length)
        ):
            raise _SLOW
        return [item(one) for one in value]

    return check


_COMPILERS: dict[type[Any], Callable[[Any], Check]] = {
    StrictIntegerField: _int_check,
    StrictCharField: _str_check,
    StrictUUIDField: _uuid_check,
    StrictListField: _list_check,
}


def _compile_field(field: Any) -> Check:
    compiler = _COMPILERS.get(type(field))
    if compiler is None or (field.source != field.field_name and field.field_name):
        raise NotCompilable(f"{type(field).__name__} {field.field_name!r}")
    if any(not isinstance(v, _KNOWN_VALIDATORS) for v in field.validators):
        raise NotCompilable(f"a validator of {field.field_name!r}")
    return compiler(field)


class FrameValidator:
    """`validated(serializer_class, data)`, fast for input it accepts (see the module)."""

    def __init__(self, serializer_class: type[serializers.Serializer[Any]]) -> None:
        base = serializers.Serializer
        if (
            serializer_class.validate is not base.validate
            or any(name.startswith("validate_") for name in vars(serializer_class))
            or getattr(serializer_class, "Meta", None) is not None
        ):
            raise NotCompilable(f"{serializer_class.__name__} validates in code")
        self.serializer_class = serializer_class
        fields = serializer_class().fields
        self._fields: list[tuple[str, Check, bool, bool, Any]] = []
        for name, field in fields.items():
            if field.read_only:
                continue
            default = field.default
            self._fields.append(
                (name, _compile_field(field), field.required, field.allow_null, default)
            )

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The validated data; raises the serializer's ValidationError for invalid input."""
        try:
            return self._fast(data)
        except _Slow:
            return validated(self.serializer_class, data)

    def _fast(self, data: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise _SLOW
        out: dict[str, Any] = {}
        for name, check, required, allow_null, default in self._fields:
            value = data.get(name, empty)
            if value is empty:
                if required:
                    raise _SLOW
                if default is not empty:
                    out[name] = default() if callable(default) else default
            elif value is None:
                if not allow_null:
                    raise _SLOW
                out[name] = None
            else:
                out[name] = check(value)
        return out
