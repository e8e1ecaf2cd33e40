"""Feature flags (gray release): who gets a flag (percentage stable per user, roles, groups,
users, everyone), the REST and page read paths, the gate on REST routes and socket
operations, the audited admin, and the cache that keeps pages from querying flags."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.core.cache import cache
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse
from django.utils.html import escape
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from apps.accounts.models import AuditEvent, Role, User
from apps.core.features import (
    FLAGS,
    FeatureDisabled,
    access_feature,
    feature_enabled,
    require_flag,
)
from apps.ops.flags import selectors, services
from apps.ops.models import FeatureFlag, rollout_bucket
from tests.conftest import REDIS_TEST_URL
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


# A flagged REST route, mounted only by the tests that use this module as their URLconf.
class DemoFlaggedApi(APIView):
    permission_classes = [IsAuthenticated, require_flag("demo_feature")]

    def get(self, request: Any) -> Response:
        return Response({"demo": True})


urlpatterns = [path("api/v1/demo-flagged/", DemoFlaggedApi.as_view(), name="demo-flagged")]


@pytest.fixture(autouse=True)
def _flags_not_cached() -> Iterator[None]:
    """Flags are cached across requests (and test databases): start and end with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def commit_hooks(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """Run the on-commit work (dropping the cached flags) of what the test does inside it."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def forget_cached_flags() -> None:
    """What the commit of a change does: drop the cached flags (only those: the cache may be
    a Redis database others use too)."""
    for existing in FeatureFlag.objects.all():
        existing.flush()


def flag(name: str = "new_composer", **fields: Any) -> FeatureFlag:
    created = FeatureFlag.objects.create(name=name, **fields)
    forget_cached_flags()
    return created


def people(count: int, role: str = Role.MEMBER) -> list[User]:
    """Unsaved users with ids 1..count: the percentage depends on nothing else."""
    return [User(pk=pk, username=f"u{pk}", role=role, is_active=True) for pk in range(1, count + 1)]


def owner() -> User:
    return UserFactory(role=Role.OWNER, is_staff=True, is_superuser=True)


def administrator() -> User:
    return UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=False)


# --- who gets a flag -----------------------------------------------------------------------


def test_rollout_bucket_is_the_same_for_the_same_flag_and_user_every_time() -> None:
    assert rollout_bucket("new_composer", 42) == rollout_bucket("new_composer", 42)
    # A fixed hash (not Python's per-process hash()): the same in every process and release.
    assert rollout_bucket("new_composer", 42) == 561


def test_percentage_answer_is_stable_per_user_across_requests_and_reloads() -> None:
    flag("new_composer", percent=Decimal("50.0"))
    users = people(200)
    first = {u.pk: selectors.feature_flag_is_active(user=u, name="new_composer") for u in users}
    forget_cached_flags()  # another process, or the cache expired: read from the database again
    again = {u.pk: selectors.feature_flag_is_active(user=u, name="new_composer") for u in users}

    assert first == again
    assert 0 < sum(first.values()) < 200


@pytest.mark.parametrize(("percent", "low", "high"), [("5.0", 30, 70), ("50.0", 460, 540)])
def test_about_that_percentage_of_a_thousand_users_get_the_flag(
    percent: str, low: int, high: int
) -> None:
    rollout = flag("new_composer", percent=Decimal(percent))

    enabled = sum(rollout.is_active_for_user(user) for user in people(1000))

    assert low <= enabled <= high


def test_raising_the_percentage_keeps_everyone_who_had_the_flag() -> None:
    rollout = flag("new_composer", percent=Decimal("5.0"))
    users = people(1000)
    at_five = {user.pk for user in users if rollout.is_active_for_user(user)}
    rollout.percent = Decimal("50.0")
    at_fifty = {user.pk for user in users if rollout.is_active_for_user(user)}

    assert at_five < at_fifty


def test_each_flag_picks_its_own_users() -> None:
    one = flag("one", percent=Decimal("10.0"))
    two = flag("two", percent=Decimal("10.0"))
    users = people(1000)

    assert {u.pk for u in users if one.is_active_for_user(u)} != {
        u.pk for u in users if two.is_active_for_user(u)
    }


def test_a_flag_for_a_role_is_on_for_that_role_only() -> None:
    flag("new_composer", roles=[Role.ADMIN, Role.GUEST])

    answers = {
        role: selectors.feature_flag_is_active(user=UserFactory(role=role), name="new_composer")
        for role in Role.values
    }

    assert answers == {Role.OWNER: False, Role.ADMIN: True, Role.MEMBER: False, Role.GUEST: True}


def test_a_flag_for_a_group_is_on_for_its_members_only() -> None:
    testers = Group.objects.create(name="beta testers")
    rollout = flag("new_composer")
    rollout.groups.add(testers)
    forget_cached_flags()
    tester, other = UserFactory(), UserFactory()
    tester.groups.add(testers)

    assert selectors.feature_flag_is_active(user=tester, name="new_composer") is True
    assert selectors.feature_flag_is_active(user=other, name="new_composer") is False


def test_a_flag_for_listed_users_is_on_for_them_only() -> None:
    rollout = flag("new_composer")
    listed, other = UserFactory(), UserFactory()
    rollout.users.add(listed)
    forget_cached_flags()

    assert selectors.feature_flags_for(user=listed) == {"new_composer": True}
    assert selectors.feature_flags_for(user=other) == {"new_composer": False}


def test_everyone_yes_turns_it_on_for_all_and_no_overrides_every_other_rule() -> None:
    listed = UserFactory(role=Role.ADMIN)
    on = flag("on_for_all", everyone=True)
    off = flag("off_for_all", everyone=False, roles=[Role.ADMIN], percent=Decimal("99.9"))
    off.users.add(listed)
    forget_cached_flags()

    assert on.is_active_for_user(UserFactory(role=Role.GUEST)) is True
    assert selectors.feature_flags_for(user=listed) == {"off_for_all": False, "on_for_all": True}


def test_deactivated_and_anonymous_users_get_no_flag_but_an_everyone_flag() -> None:
    flag("by_role", roles=list(Role.values), percent=Decimal("99.9"))
    gone = UserFactory(is_active=False)

    assert selectors.feature_flag_is_active(user=gone, name="by_role") is False
    assert selectors.feature_flag_is_active(user=AnonymousUser(), name="by_role") is False


def test_a_flag_nobody_created_is_off() -> None:
    assert selectors.feature_flag_is_active(user=UserFactory(), name="never_created") is False
    assert feature_enabled(user=UserFactory(), name="never_created") is False


def test_waffle_reads_the_same_per_user_answer_and_ignores_its_cookie_and_url_switches(
    settings: Any,
) -> None:
    import waffle

    flag("new_composer", percent=Decimal("50.0"), testing=True)
    users = people(40)
    with_flag = next(u for u in users if rollout_bucket("new_composer", u.pk) < 500)
    without = next(u for u in users if rollout_bucket("new_composer", u.pk) >= 500)
    request = RequestFactory().get("/?dwft_new_composer=1&new_composer=1")
    request.COOKIES = {"dwf_new_composer": "True", "dwft_new_composer": "True"}

    request.user = without
    assert waffle.flag_is_active(request, "new_composer") is False
    request.user = with_flag
    assert waffle.flag_is_active(request, "new_composer") is True
    assert not hasattr(request, "waffles")  # nothing for a cookie middleware to set


def test_unknown_roles_and_out_of_range_percentages_are_refused() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as roles:
        FeatureFlag(name="x", roles=["superhero"]).full_clean()
    with pytest.raises(ValidationError) as percent:
        FeatureFlag(name="y", percent=Decimal("-1.0")).full_clean()

    assert "roles" in roles.value.message_dict
    assert "percent" in percent.value.message_dict


# --- REST ------------------------------------------------------------------------------------


def test_features_endpoint_lists_every_flag_with_the_users_answer() -> None:
    flag("for_admins", roles=[Role.ADMIN])
    flag("for_all", everyone=True)
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.MEMBER))

    response = client.get(reverse("ops_api:features"))

    assert response.status_code == 200
    assert response.json() == {"flags": {"for_admins": False, "for_all": True}}


def test_features_endpoint_refuses_anonymous_callers() -> None:
    flag("for_all", everyone=True)

    response = APIClient().get(reverse("ops_api:features"))

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_features_endpoint_reads_flags_from_the_cache_without_a_query() -> None:
    rollout = flag("for_listed")
    for name in ("a", "b", "c"):
        flag(name, percent=Decimal("10.0"))
    user = UserFactory()
    rollout.users.add(user)
    forget_cached_flags()
    client = APIClient()
    client.force_authenticate(user)
    client.get(reverse("ops_api:features"))  # fills the cache

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("ops_api:features"))

    assert response.json()["flags"]["for_listed"] is True
    assert [q["sql"] for q in queries.captured_queries if "ops_featureflag" in q["sql"]] == []


@pytest.mark.urls("tests.ops.test_feature_flags")
def test_flagged_route_answers_404_feature_disabled_without_the_flag() -> None:
    flag("demo_feature", roles=[Role.ADMIN])
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.MEMBER))

    response = client.get("/api/v1/demo-flagged/")

    assert response.status_code == 404
    assert response.json() == {
        "code": "feature_disabled",
        "message": "This feature is not available to you.",
        "details": {"feature": "demo_feature"},
    }


@pytest.mark.urls("tests.ops.test_feature_flags")
def test_flagged_route_serves_users_with_the_flag_and_401_to_anonymous() -> None:
    flag("demo_feature", roles=[Role.ADMIN])
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.ADMIN))

    assert client.get("/api/v1/demo-flagged/").json() == {"demo": True}
    assert APIClient().get("/api/v1/demo-flagged/").status_code == 401


def test_websocket_operation_behind_a_flag_answers_a_feature_disabled_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apps.chat import consumers

    def demo_operation(user: User, frame: dict[str, Any]) -> dict[str, Any]:
        access_feature(user=user, name="demo_feature")
        return {"done": True}

    monkeypatch.setitem(consumers.OPERATIONS, "demo.op", demo_operation)
    flag("demo_feature", roles=[Role.ADMIN])

    refused = consumers._run_operation(UserFactory(role=Role.MEMBER), "demo.op", {})
    allowed = consumers._run_operation(UserFactory(role=Role.ADMIN), "demo.op", {})

    assert refused == {
        "ok": False,
        "code": "feature_disabled",
        "message": "This feature is not available to you.",
        "details": {"feature": "demo_feature"},
    }
    assert allowed == {"ok": True, "done": True}


def test_access_feature_raises_a_translated_domain_error() -> None:
    from django.utils import translation

    flag("demo_feature", everyone=False)

    with translation.override("zh-hans"), pytest.raises(FeatureDisabled) as error:
        access_feature(user=UserFactory(), name="demo_feature")

    assert error.value.http_status == 404
    assert error.value.message == "你暂时不能使用此功能。"


# --- the web client ----------------------------------------------------------------------------


def test_chat_page_hands_the_users_flags_to_the_client_as_json_not_a_script() -> None:
    flag("for_admins", roles=[Role.ADMIN])
    flag("for_all", everyone=True)
    client = Client()
    client.force_login(UserFactory(role=Role.MEMBER))

    page = client.get(reverse("chat:home")).content.decode()

    assert (
        '<script id="feature-flags" type="application/json">'
        '{"for_admins": false, "for_all": true}</script>'
    ) in page


def test_chat_page_reads_cached_flags_without_a_query() -> None:
    flag("for_all", everyone=True)
    client = Client()
    client.force_login(UserFactory())
    client.get(reverse("chat:home"))

    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("chat:home"))

    assert [q["sql"] for q in queries.captured_queries if "ops_featureflag" in q["sql"]] == []


def test_no_waffle_middleware_runs_on_requests(settings: Any) -> None:
    """Flags are per user, never per cookie: nothing runs for requests that read no flag."""
    assert not [m for m in settings.MIDDLEWARE if m.startswith("waffle")]


# --- the admin, audited ----------------------------------------------------------------------


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def flag_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "new_composer",
        "note": "composer v2",
        "everyone": "unknown",
        "percent": "5.0",
        "roles": [],
        "groups": [],
        "users": [],
    }
    data.update(overrides)
    return data


def audit_of(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.mark.parametrize("make_user", [owner, administrator], ids=["owner", "admin"])
def test_creating_a_flag_in_the_admin_is_audited(
    make_user: Callable[[], User], commit_hooks: Callable[[], Any]
) -> None:
    actor = make_user()
    with commit_hooks():
        response = admin_client(actor).post(
            reverse("admin:ops_featureflag_add"), flag_form(name="calls", roles=[Role.ADMIN])
        )

    assert response.status_code == 302, response.content.decode()[:2000]
    created = FeatureFlag.objects.get(name="calls")
    [event] = audit_of("flag.created")
    assert (event.actor_id, event.target_type, event.target_id, event.target_label) == (
        actor.pk,
        "featureflag",
        str(created.pk),
        "calls",
    )
    assert event.metadata == {
        "after": {
            "everyone": None,
            "percent": "5.0",
            "roles": ["admin"],
            "users": [],
            "groups": [],
            "note": "composer v2",
        }
    }


def test_changing_a_flag_in_the_admin_is_audited_with_before_and_after(
    commit_hooks: Callable[[], Any],
) -> None:
    actor = owner()
    tester = UserFactory(username="tester")
    rollout = flag("new_composer", percent=Decimal("5.0"), note="composer v2")
    member = UserFactory(role=Role.MEMBER)
    assert selectors.feature_flag_is_active(user=tester, name="new_composer") is (
        rollout_bucket("new_composer", tester.pk) < 50
    )

    with commit_hooks():
        response = admin_client(actor).post(
            reverse("admin:ops_featureflag_change", args=[rollout.pk]),
            flag_form(percent="50.0", users=[tester.pk]),
        )

    assert response.status_code == 302, response.content.decode()[:2000]
    [event] = audit_of("flag.changed")
    assert event.actor_id == actor.pk
    assert event.metadata["changed"] == ["percent", "users"]
    assert event.metadata["before"]["percent"] == "5.0"
    assert event.metadata["after"]["percent"] == "50.0"
    assert (event.metadata["before"]["users"], event.metadata["after"]["users"]) == (
        [],
        ["tester"],
    )
    # Dropped from the cache at the commit: the next read has the new rule.
    assert selectors.feature_flag_is_active(user=tester, name="new_composer") is True
    assert selectors.feature_flag_is_active(user=member, name="new_composer") is (
        rollout_bucket("new_composer", member.pk) < 500
    )


def test_saving_a_flag_unchanged_writes_no_audit_event(commit_hooks: Callable[[], Any]) -> None:
    rollout = flag("new_composer", percent=Decimal("5.0"), note="composer v2")

    with commit_hooks():
        admin_client(owner()).post(
            reverse("admin:ops_featureflag_change", args=[rollout.pk]), flag_form()
        )

    assert audit_of("flag.changed") == []


def test_deleting_a_flag_in_the_admin_is_audited_and_turns_it_off(
    commit_hooks: Callable[[], Any],
) -> None:
    actor = administrator()
    rollout = flag("new_composer", everyone=True)
    user = UserFactory()
    assert selectors.feature_flag_is_active(user=user, name="new_composer") is True

    with commit_hooks():
        response = admin_client(actor).post(
            reverse("admin:ops_featureflag_delete", args=[rollout.pk]), {"post": "yes"}
        )

    assert response.status_code == 302
    assert not FeatureFlag.objects.exists()
    [event] = audit_of("flag.deleted")
    assert (event.actor_id, event.target_label) == (actor.pk, "new_composer")
    assert event.metadata["before"]["everyone"] is True
    assert selectors.feature_flag_is_active(user=user, name="new_composer") is False


def test_turning_flags_on_for_everyone_from_the_list_is_audited_per_flag(
    commit_hooks: Callable[[], Any],
) -> None:
    one = flag("one", percent=Decimal("50.0"))
    two = flag("two", roles=[Role.ADMIN])

    with commit_hooks():
        response = admin_client(owner()).post(
            reverse("admin:ops_featureflag_changelist"),
            {"action": "enable_for_everyone", "_selected_action": [one.pk, two.pk]},
        )

    assert response.status_code == 302
    events = audit_of("flag.changed")
    assert sorted((e.target_label, e.metadata["after"]["everyone"]) for e in events) == [
        ("one", True),
        ("two", True),
    ]
    assert selectors.feature_flags_for(user=UserFactory(role=Role.GUEST)) == {
        "one": True,
        "two": True,
    }


def test_deleting_flags_from_the_list_is_audited_per_flag(commit_hooks: Callable[[], Any]) -> None:
    one, two = flag("one"), flag("two")

    with commit_hooks():
        admin_client(owner()).post(
            reverse("admin:ops_featureflag_changelist"),
            {"action": "delete_flags", "_selected_action": [one.pk, two.pk]},
        )

    assert sorted(e.target_label for e in audit_of("flag.deleted")) == ["one", "two"]
    assert not FeatureFlag.objects.exists()


def test_the_admin_refuses_a_percentage_above_99_9_and_writes_nothing() -> None:
    response = admin_client(owner()).post(
        reverse("admin:ops_featureflag_add"), flag_form(name="calls", percent="100.0")
    )

    assert response.status_code == 200
    assert "percent" in response.context["adminform"].form.errors
    assert not FeatureFlag.objects.exists()
    assert audit_of("flag.created") == []


def test_the_flag_admin_speaks_chinese() -> None:
    chinese_owner = owner()
    chinese_owner.language = "zh-hans"
    chinese_owner.save(update_fields=["language"])

    page = admin_client(chinese_owner).get(reverse("admin:ops_featureflag_add")).content.decode()

    for text in ("谁可以使用", "对所有人开启（是）或关闭（否）此开关", "百分比", "角色", "管理员"):
        assert text in page


def test_the_admin_offers_the_flags_the_product_reads_and_refuses_others() -> None:
    flag("calls")
    client = admin_client(owner())

    page = client.get(reverse("admin:ops_featureflag_add")).content.decode()
    typo = client.post(reverse("admin:ops_featureflag_add"), flag_form(name="dark-mode"))

    select = re.search(r'<select name="name".*?</select>', page, re.DOTALL)
    assert select is not None
    offered = re.findall(r'<option value="([a-z_]+)"', select.group(0))
    assert offered == sorted(set(FLAGS) - {"calls"})  # an existing flag is changed, not added
    assert str(FLAGS["dark_mode"]) in page
    assert typo.status_code == 200
    assert "name" in typo.context["adminform"].form.errors
    assert list(FeatureFlag.objects.values_list("name", flat=True)) == ["calls"]


def test_the_flag_list_says_what_each_flag_turns_on() -> None:
    flag("data_export")
    flag("retired_experiment")

    page = admin_client(owner()).get(reverse("admin:ops_featureflag_changelist"))

    text = page.content.decode()
    assert page.status_code == 200
    assert escape(str(FLAGS["data_export"])) in text
    assert "no feature reads this flag" in text


@pytest.mark.parametrize("role", [Role.MEMBER, Role.GUEST])
def test_members_and_guests_cannot_manage_flags(role: str) -> None:
    rollout = flag("new_composer")
    client = admin_client(UserFactory(role=role))

    pages = [
        client.get(reverse("admin:ops_featureflag_changelist")),
        client.post(reverse("admin:ops_featureflag_add"), flag_form(name="sneaky")),
        client.post(reverse("admin:ops_featureflag_delete", args=[rollout.pk]), {"post": "yes"}),
    ]

    assert all(page.status_code == 302 and "/login/" in page["Location"] for page in pages)
    assert list(FeatureFlag.objects.values_list("name", flat=True)) == ["new_composer"]
    assert AuditEvent.objects.filter(action__startswith="flag.").count() == 0


def test_anonymous_visitors_cannot_see_the_flag_admin() -> None:
    response = Client().get(reverse("admin:ops_featureflag_changelist"))

    assert response.status_code == 302
    assert re.search(r"/login/", response["Location"])


# --- the cache in Redis (production) -----------------------------------------------------------


@pytest.mark.redis
def test_a_change_reaches_every_process_through_the_shared_redis_cache(
    settings: Any, commit_hooks: Callable[[], Any]
) -> None:
    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "apps.core.runtime.cache.SharedRedisCache",
            "LOCATION": REDIS_TEST_URL,
            "KEY_PREFIX": f"enclave-test-flags-{uuid.uuid4().hex[:8]}",
        }
    }
    try:
        rollout = flag("new_composer", roles=[Role.ADMIN])
        user = UserFactory(role=Role.MEMBER)
        assert selectors.feature_flag_is_active(user=user, name="new_composer") is False
        assert caches["default"].get(FeatureFlag._cache_key("new_composer")) is not None

        rollout.roles = [Role.ADMIN, Role.MEMBER]
        with commit_hooks():
            services.feature_flag_save(actor=owner(), flag=rollout)

        assert caches["default"].get(FeatureFlag._cache_key("new_composer")) is None
        assert selectors.feature_flag_is_active(user=user, name="new_composer") is True
    finally:
        forget_cached_flags()
