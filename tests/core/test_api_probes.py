"""Bad input anywhere in the REST API gets a 4xx in the error shape, never a server error.

The probes come from the OpenAPI schema (every operation, every integer parameter and body
field, every id list), so a route added later is probed without a new test. Integers are the
first thing a fuzzer tries past the database's range (PostgreSQL bigint, SQLite INTEGER:
signed 64 bits); malformed items of an id list once made an error the renderer could not
write. Unmatched `/api/` paths answer in the same shape whatever the method, CSRF or not.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.models import Role, User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, Message
from apps.core.api import DB_INT_MAX, DB_INT_MIN
from apps.ops.models import FeatureFlag

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

TOO_BIG = [2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30]


def assert_error_shape(response: Any) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = json.loads(response.content)
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["code"], str), body
    assert body["code"], body
    assert isinstance(body["message"], str), body
    assert isinstance(body["details"], dict), body
    return body


def assert_not_a_server_error(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:500])
    if response.status_code >= 400:
        assert_error_shape(response)


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-any-return]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _route_flags() -> set[str]:
    """The feature flags the REST views require (`require_flag`), a route added later too."""
    return {
        permission.flag
        for _route, entry in _patterns(get_resolver())
        for permission in getattr(getattr(entry.callback, "cls", None), "permission_classes", [])
        if hasattr(permission, "flag")
    }


@pytest.fixture
def world(make_user: Any) -> Any:
    owner = make_user(role=Role.OWNER)
    channel = services.channel_create(creator=owner, kind=ChannelKind.PUBLIC, name="probes")
    message = services.message_send(
        sender=owner, channel_id=channel.pk, body="probe me", client_msg_id=str(uuid.uuid4())
    ).message
    token, _raw = account_services.api_token_create(user=owner, name="probe")
    # Routes behind a feature flag are probed with it on (off, they answer feature_disabled).
    for flag in _route_flags():
        FeatureFlag.objects.create(name=flag, everyone=True)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(owner)
    ids = {
        "channel_id": channel.pk,
        "message_id": message.pk,
        "user_id": owner.pk,
        "token_id": token.pk,
        "index": 0,
        "attachment_id": uuid.uuid4(),
        "session_id": uuid.uuid4(),
    }
    return client, ids, channel, message


class _Ids(dict[str, Any]):
    """The world's ids; a path parameter it does not know (a route added later) gets 1."""

    def __missing__(self, key: str) -> Any:
        return 1


def _url(path: str, ids: dict[str, Any], **override: Any) -> str:
    return path.format_map(_Ids({**ids, **override}))


def _call(client: APIClient, method: str, url: str, **kwargs: Any) -> Any:
    return getattr(client, method)(url, **kwargs)


def test_ids_out_of_range_in_any_path_answer_404_not_found(schema: dict[str, Any], world: Any):
    client, ids, _channel, _message = world
    probed = 0
    for path, method, operation in _operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "path" or parameter["schema"].get("type") != "integer":
                continue
            for value in [2**63, 2**64 - 1, 10**30]:
                response = _call(client, method, _url(path, ids, **{parameter["name"]: value}))
                body = assert_error_shape(response)
                assert response.status_code == 404, (path, method, body)
                probed += 1
    assert probed > 50


def test_integers_out_of_range_in_any_query_answer_400(schema: dict[str, Any], world: Any):
    client, ids, _channel, _message = world
    probed = 0
    for path, method, operation in _operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query" or parameter["schema"].get("type") != "integer":
                continue
            # DRF's cursor pagination caps its page size and ignores a size it cannot read.
            paginated = parameter["name"] == "limit" and any(
                other["name"] == "cursor" for other in operation["parameters"]
            )
            for value in TOO_BIG:
                response = _call(
                    client, method, _url(path, ids) + f"?q=x&{parameter['name']}={value}"
                )
                if paginated:
                    assert_not_a_server_error(response)
                else:
                    body = assert_error_shape(response)
                    assert response.status_code == 400, (path, method, parameter["name"], body)
                probed += 1
    assert probed > 20


def test_ids_out_of_range_in_a_comma_separated_query_answer_400(world: Any) -> None:
    client, _ids, _channel, _message = world

    for value in TOO_BIG:
        response = client.get(f"/api/v1/presence/?user_ids=1,{value}")
        assert assert_error_shape(response)["code"] in ("invalid", "invalid_field")
        assert response.status_code == 400


def _json_body_fields(
    schema: dict[str, Any], operation: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return
    body = _resolve(schema, content["application/json"]["schema"])
    for name, field in body.get("properties", {}).items():
        yield name, _resolve(schema, field)


def _bad_values(field: dict[str, Any]) -> list[Any]:
    if field.get("type") == "integer":
        return list(TOO_BIG)
    if field.get("type") == "array":
        items = field.get("items", {})
        if items.get("type") == "integer":
            return [[value] for value in TOO_BIG] + [[None], ["nope"], [[1]], [{"a": 1}]]
        if items.get("format") == "uuid":
            return [["nope"], [None], [2**63], [[str(uuid.uuid4())]], [{"a": 1}]]
    return []


def test_bad_integers_and_id_lists_in_any_json_body_answer_400(
    schema: dict[str, Any], world: Any
) -> None:
    client, ids, _channel, _message = world
    probed = 0
    for path, method, operation in _operations(schema):
        for name, field in _json_body_fields(schema, operation):
            for value in _bad_values(field):
                response = _call(
                    client,
                    method,
                    _url(path, ids),
                    data={"body": "x", "name": "probe", "seq": 0, name: value},
                    format="json",
                )
                # 400 where the operation validates first; a route behind a feature flag or
                # a permission may refuse before it reads the body.
                body = assert_error_shape(response)
                assert response.status_code in (400, 403, 404), (path, method, name, value, body)
                probed += 1
    assert probed > 40


def test_a_malformed_attachment_id_names_the_item_in_details(world: Any) -> None:
    client, _ids, channel, _message = world

    response = client.post(
        f"/api/v1/channels/{channel.pk}/messages/",
        {
            "body": "x",
            "client_msg_id": str(uuid.uuid4()),
            "attachment_ids": [str(uuid.uuid4()), "nope"],
        },
        format="json",
    )

    body = assert_error_shape(response)
    assert body["code"] == "invalid"
    assert list(body["details"]) == ["attachment_ids.1"]
    assert all(isinstance(text, str) for text in body["details"]["attachment_ids.1"])


def test_a_null_member_id_answers_400(world: Any) -> None:
    client, _ids, _channel, _message = world

    response = client.post(
        "/api/v1/channels/", {"kind": "public", "name": "n", "member_ids": [None]}, format="json"
    )

    assert response.status_code == 400
    assert list(assert_error_shape(response)["details"]) == ["member_ids.0"]


def test_nested_errors_of_a_list_of_objects_are_flattened() -> None:
    from rest_framework.exceptions import ValidationError

    from apps.core.api import exception_handler

    class Item(serializers.Serializer):
        n = serializers.IntegerField()

    class Outer(serializers.Serializer):
        items = Item(many=True)

    serializer = Outer(data={"items": [{"n": 1}, {"n": "x"}, {}]})
    assert not serializer.is_valid()

    response = exception_handler(ValidationError(serializer.errors), {})

    assert response is not None
    assert response.data["details"] == {
        "items.1.n": ["A valid integer is required."],
        "items.2.n": ["This field is required."],
    }


# --- unmatched /api/ paths and CSRF -------------------------------------------------------------


@pytest.fixture
def browser(make_user: Any) -> Client:
    """A signed-in browser session that sends no CSRF token, as a cross-site form would."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())
    return client


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/no-such-thing/",
        "/api/v2/channels/",
        "/api/v1/channels/abc/",
        "/api/v1/channels/abc/archive/",
        "/api/v1/messages/1.5/",
        f"/api/v1/channels/{2**63}/",
        "/api/",
    ],
)
def test_unmatched_api_paths_answer_json_404_for_every_method(
    browser: Client, method: str, path: str
) -> None:
    response = getattr(browser, method)(path)

    assert response.status_code == 404
    assert assert_error_shape(response)["code"] == "not_found"


def test_csrf_failure_on_an_api_path_answers_json_403() -> None:
    from django.test import RequestFactory

    from apps.core.views import csrf_failure

    request = RequestFactory().post("/api/v1/anything/")

    response = csrf_failure(request, reason="CSRF cookie not set.")

    assert response.status_code == 403
    assert assert_error_shape(response)["code"] == "csrf_failed"


def test_csrf_failure_elsewhere_keeps_django_page(settings: Any) -> None:
    from django.test import RequestFactory

    from apps.core.views import csrf_failure

    response = csrf_failure(RequestFactory().post("/accounts/login/"), reason="no cookie")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


def test_csrf_failure_view_is_installed(settings: Any) -> None:
    assert settings.CSRF_FAILURE_VIEW == "apps.core.views.csrf_failure"


def test_session_post_to_an_api_route_without_csrf_answers_json_403(browser: Client) -> None:
    response = browser.post("/api/v1/channels/", {"kind": "public", "name": "x"})

    assert response.status_code == 403
    assert_error_shape(response)


# --- the one bounded integer: a guard for code added later ----------------------------------------


def _patterns(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def test_no_route_takes_an_unbounded_integer() -> None:
    # The admin's own (and django-otp's) look objects up with the ORM, which answers an id
    # out of range with "no such object" (Django >= 5.0); ours may run hand-written SQL.
    unbounded = [
        route
        for route, entry in _patterns(get_resolver())
        for converter in getattr(entry.pattern, "converters", {}).values()
        if type(converter) is IntConverter and not route.startswith("admin/")
    ]
    assert not unbounded, "use <id:...> (apps.core.converters), not <int:...>: " + str(unbounded)


def _integer_fields(serializer: serializers.Serializer) -> Iterator[tuple[str, Any]]:
    for name, field in serializer.fields.items():
        while isinstance(field, serializers.ListField | serializers.ListSerializer):
            field = field.child
        if isinstance(field, serializers.IntegerField):
            yield name, field
        elif isinstance(field, serializers.Serializer):
            yield from _integer_fields(field)


def _serializer_classes() -> Iterator[type[serializers.Serializer]]:
    import importlib
    import pkgutil

    import apps

    for module_info in pkgutil.walk_packages(apps.__path__, "apps."):
        if module_info.name.rsplit(".", 1)[-1] != "serializers":
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, serializers.Serializer)
                and value.__module__ == module.__name__
            ):
                yield value


def test_every_serializer_integer_is_within_the_database_range() -> None:
    classes = list(_serializer_classes())
    unbounded = [
        f"{cls.__module__}.{cls.__name__}.{name}"
        for cls in classes
        for name, field in _integer_fields(cls())
        if field.max_value is None
        or field.max_value > DB_INT_MAX
        or field.min_value is None
        or field.min_value < DB_INT_MIN
    ]
    assert len(classes) > 20
    assert not unbounded, "use apps.core.api.BoundedIntegerField: " + ", ".join(unbounded)


def test_the_probes_reach_real_objects(world: Any) -> None:
    client, ids, channel, message = world
    assert client.get(f"/api/v1/channels/{channel.pk}/").status_code == 200
    assert client.get(f"/api/v1/messages/{message.pk}/").status_code == 200
    assert Channel.objects.filter(pk=ids["channel_id"]).exists()
    assert Message.objects.filter(pk=ids["message_id"]).exists()
    assert User.objects.filter(pk=ids["user_id"]).exists()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_the_schema_and_docs_refuse_other_methods_in_json(
    browser: Client, method: str, path: str
) -> None:
    response = getattr(browser, method)(path)

    assert response.status_code == 405
    assert assert_error_shape_any_status(response)["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"


def test_the_schema_and_docs_still_answer_get(browser: Client) -> None:
    assert browser.get("/api/schema/?format=json").status_code == 200
    assert browser.get("/api/docs/").status_code == 200


def assert_error_shape_any_status(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = json.loads(response.content)
    assert set(body) == {"code", "message", "details"}, body
    return body  # type: ignore[no-any-return]
