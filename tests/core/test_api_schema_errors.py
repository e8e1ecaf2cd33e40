"""The OpenAPI schema documents each operation's error responses in the one error shape."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

ERROR_REF = "#/components/schemas/ErrorOut"


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-any-return]


def responses(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return schema["paths"][path][method]["responses"]  # type: ignore[no-any-return]


def test_every_operation_documents_its_errors_in_the_error_shape(schema: dict[str, Any]) -> None:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            documented = operation["responses"]
            assert "400" in documented, (method, path)
            for status, response in documented.items():
                if int(status) >= 400:
                    [content] = response["content"].values()
                    assert "$ref" in content["schema"], (method, path, status)
                    assert response["description"], (method, path, status)


def test_authenticated_operations_document_401_403_404_and_429(schema: dict[str, Any]) -> None:
    documented = responses(schema, "/api/v1/channels/{channel_id}/", "get")

    assert {"401", "403", "404", "429"} <= set(documented)
    assert documented["404"]["content"]["application/json"]["schema"]["$ref"] == ERROR_REF


def test_sending_documents_the_conflict_of_a_reused_client_msg_id(schema: dict[str, Any]) -> None:
    documented = responses(schema, "/api/v1/channels/{channel_id}/messages/", "post")

    assert "client_msg_id_reused" in documented["409"]["description"]
    assert "415" in documented


def test_uploads_document_413(schema: dict[str, Any]) -> None:
    assert "413" in responses(schema, "/api/v1/files/", "post")
    assert "413" in responses(schema, "/api/v1/uploads/{session_id}/chunks/{index}", "put")


def test_the_token_endpoint_documents_its_rate_limit_and_lock_out(schema: dict[str, Any]) -> None:
    documented = responses(schema, "/api/v1/auth/token/", "post")

    assert {"400", "401", "429"} <= set(documented)


def test_search_documents_its_time_out(schema: dict[str, Any]) -> None:
    documented = responses(schema, "/api/v1/search/", "get")

    assert "search_timeout" in documented["503"]["description"]


def test_the_error_component_has_the_shape(schema: dict[str, Any]) -> None:
    component = schema["components"]["schemas"]["ErrorOut"]

    assert set(component["required"]) == {"code", "message", "details"}
