"""Path converters: `<id:name>` is the one way a URL takes an integer.

Django's `<int:...>` takes any number of digits; an id past the database's integer range
(signed 64 bits) then fails in the database as a server error. `<id:...>` matches only ids the
database can hold; any other path falls through to the API's JSON 404 (config/urls.py).
"""

from __future__ import annotations

from django.urls import register_converter

from apps.core.api import DB_INT_MAX


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > DB_INT_MAX:
            raise ValueError("out of the database's integer range")  # no match: 404
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


def install() -> None:
    """Register `<id:...>`; called by CoreConfig.ready(), before any URLconf is loaded."""
    register_converter(IdConverter, "id")
