"""The URL gate: every route under /api/v1/ has a row in the permission matrix.

Add a route and this fails until tests/api_matrix.py says who may call it and what the others
get back (CONTRIBUTING.md, "Tests": every REST route has an allowed and a refused case).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver

from tests.api_matrix import CORE_ACTORS, MATRIX

API_PREFIX = "api/v1/"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _walk(
    patterns: list[URLPattern | URLResolver], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, URLPattern]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, route, inner)
        else:
            yield route, namespace, pattern


def api_routes() -> set[tuple[str, str]]:
    """(namespaced url name, method) of every view method served under /api/v1/."""
    routes = set()
    for route, namespace, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith(API_PREFIX):
            continue
        assert pattern.name, f"/{route} has no URL name, so the matrix cannot refer to it"
        view_class = pattern.callback.cls  # type: ignore[attr-defined]
        for method in HTTP_METHODS:
            if hasattr(view_class, method):
                routes.add((f"{namespace}:{pattern.name}", method))
    return routes


def test_api_routes_are_found() -> None:
    assert ("chat_api:messages", "post") in api_routes()
    assert ("accounts_api:token", "delete") in api_routes()


def test_every_api_route_has_permission_matrix_entry() -> None:
    missing = sorted(api_routes() - set(MATRIX))

    assert missing == [], f"add these routes to tests/api_matrix.py MATRIX: {missing}"


def test_permission_matrix_names_no_route_that_does_not_exist() -> None:
    stale = sorted(set(MATRIX) - api_routes())

    assert stale == []


def test_every_route_has_a_case_for_each_core_actor() -> None:
    gaps = {
        key: sorted(set(CORE_ACTORS) - {case.actor for case in route.cases})
        for key, route in MATRIX.items()
    }

    assert {key: actors for key, actors in gaps.items() if actors} == {}


def test_every_route_has_an_allowed_and_a_refused_case() -> None:
    one_sided = [
        key for key, route in MATRIX.items() if len({case.allowed for case in route.cases}) != 2
    ]

    assert one_sided == []


def test_refused_cases_name_their_error_code() -> None:
    unnamed = [
        (key, case.actor)
        for key, route in MATRIX.items()
        for case in route.cases
        if not case.allowed and not case.code
    ]

    assert unnamed == []
