"""Schemathesis over the real REST API: no server error, no undocumented status.

Every operation of the OpenAPI schema (/api/schema/) is called with generated input (valid,
boundary and invalid values, the schema's examples) by three identities: two members who share
a channel and a guest. Each generated case is sent as generated (random ids: mostly objects
that do not exist) and again with the path's ids pointing at real objects, so validation and
permission code behind the look-up is reached too. The run is in-process through Django's WSGI
handler (the same middleware and views as under ASGI), bounded by the example counts below:
about a minute on SQLite and two or three on PostgreSQL, on a 2-core machine.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from apps.accounts import services as account_services
from apps.accounts.models import APIToken, Role, User
from apps.chat import services
from apps.chat.models import ChannelKind
from tests.factories import UserFactory

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]
# Generated cases per operation, each sent by all three identities.
MAX_EXAMPLES = 10
# Coverage cases per operation (an operation with many fields has a few hundred).
MAX_COVERAGE_CASES = 100


@pytest.fixture
def identities() -> dict[str, Any]:
    """Bearer tokens of two members and a guest, and ids of objects they share."""
    alice = UserFactory(username="fuzz-alice", role=Role.MEMBER)
    bob = UserFactory(username="fuzz-bob", role=Role.MEMBER)
    guest = UserFactory(username="fuzz-guest", role=Role.GUEST)
    team = services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="fuzz", member_ids=[bob.pk, guest.pk]
    )
    message = services.message_send(
        sender=alice, channel_id=team.pk, body="fuzz me", client_msg_id=str(uuid.uuid4())
    ).message
    tokens = {
        user.username: account_services.api_token_create(user=user, name="fuzz")
        for user in (alice, bob, guest)
    }
    return {
        "tokens": [raw for _token, raw in tokens.values()],
        "token_ids": [token.pk for token, _raw in tokens.values()],
        "ids": {
            "channel_id": team.pk,
            "message_id": message.pk,
            "user_id": bob.pk,
            "token_id": tokens["fuzz-alice"][0].pk,
            "index": 0,
        },
        "users": [alice, bob, guest],
    }


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """As Django's test client does: a request must not close the database connection that
    holds the test's transaction (request_started/finished close "old" connections)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _operations() -> list[Any]:
    api = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    return [result.ok() for result in api.get_all_operations()]


def _fuzz(operation: Any, identities: dict[str, Any]) -> int:
    """Hypothesis over one operation: valid and invalid input, each case sent by everyone."""
    tokens, ids = identities["tokens"], identities["ids"]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Any) -> None:
        # A generated DELETE /auth/tokens/{id}/ may hit one of these tokens: keep them live.
        APIToken.objects.filter(pk__in=identities["token_ids"]).update(revoked_at=None)
        case.call_and_validate(headers={"Authorization": f"Bearer {tokens[0]}"}, checks=CHECKS)
        for name in list(case.path_parameters or {}):
            if name in ids:
                case.path_parameters[name] = ids[name]
        for token in tokens[1:]:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    run()
    return 0


def _cover(operation: Any, identities: dict[str, Any]) -> int:
    """Schemathesis' coverage phase: each field's boundary and invalid values in turn (an id
    past 2**63, a list item of the wrong type, a missing field), as the first identity."""
    api = operation.schema
    cases = api.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=api.config.generation_for(operation=operation, phase="coverage"),
    )
    sent = 0
    for case in itertools.islice(cases, MAX_COVERAGE_CASES):
        APIToken.objects.filter(pk__in=identities["token_ids"]).update(revoked_at=None)
        case.call_and_validate(
            headers={"Authorization": f"Bearer {identities['tokens'][0]}"}, checks=CHECKS
        )
        sent += 1
    return sent


def test_no_operation_answers_a_server_error_or_an_undocumented_status(
    identities: dict[str, Any],
) -> None:
    operations = _operations()
    failures: list[str] = []
    covered = 0
    for operation in operations:
        for phase in (_cover, _fuzz):
            try:
                covered += phase(operation, identities) or 0
            except (Exception, BaseExceptionGroup) as error:  # all failures of all operations
                failures.append(f"{operation.method.upper()} {operation.path}:\n{error}")
    assert not failures, "\n\n".join(failures)
    assert len(operations) > 40
    assert covered > 10 * len(operations)


def test_the_identities_are_real(identities: dict[str, Any]) -> None:
    assert User.objects.filter(username__startswith="fuzz-").count() == 3
