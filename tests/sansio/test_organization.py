"""The directory, pure: list pages and their guards, object decoding, names in rows."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from openai_usage_async import errors
from openai_usage_async._sansio.organization import (
    DIRECTORY_DECODERS,
    ListCursor,
    ListPage,
    check_limit,
    check_owner_project_access,
    check_project_id,
    skipped_listing,
)
from openai_usage_async.errors import APIResponseValidationError
from openai_usage_async.models import (
    ApiKeySpendLimit,
    CompletionsResult,
    CostAmount,
    CostsResult,
    Directory,
    OrganizationUser,
    Project,
    ProjectApiKey,
    SkippedListing,
    SpendLimitEnforcement,
    UsageBucket,
    to_rows,
)


def page(ids: list[str], has_more: bool, last: str | None) -> ListPage[Project]:
    return ListPage(data=[Project(id=i) for i in ids], has_more=has_more, last_id=last)


def test_the_cursor_sends_after_the_last_id_and_stops() -> None:
    cursor = ListCursor([("limit", "2")], "projects")
    assert cursor.next_request() == [("limit", "2")]
    assert [p.id for p in cursor.feed(page(["a", "b"], True, "b"))] == ["a", "b"]
    assert cursor.next_request() == [("limit", "2"), ("after", "b")]
    assert [p.id for p in cursor.feed(page(["c"], False, "c"))] == ["c"]
    assert cursor.done and cursor.pages == 2
    with pytest.raises(RuntimeError):
        cursor.next_request()


def test_has_more_without_a_last_id_is_refused() -> None:
    cursor = ListCursor([], "users")
    with pytest.raises(APIResponseValidationError, match="has_more is true but last_id is missing"):
        cursor.feed(page(["a"], True, None))


def test_a_repeated_last_id_is_a_loop() -> None:
    cursor = ListCursor([], "users")
    cursor.feed(page(["a"], True, "a"))
    with pytest.raises(APIResponseValidationError, match="already followed"):
        cursor.feed(page(["a"], True, "a"))


@pytest.mark.parametrize(
    ("limit", "ok"),
    [(None, True), (1, True), (100, True), (0, False), (101, False), (True, False), ("5", False)],
)
def test_limit_is_checked(limit: object, ok: bool) -> None:
    if ok:
        assert check_limit(limit) == limit
    else:
        with pytest.raises(ValueError, match=r"^limit: "):
            check_limit(limit)


@pytest.mark.parametrize("bad", ["", "  ", None, 7])
def test_project_id_is_checked(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^project_id: expected a non-empty"):
        check_project_id(bad)


def test_objects_decode_with_and_without_optional_fields() -> None:
    full = {
        "object": "list",
        "data": [
            {
                "object": "organization.project.api_key",
                "id": "key_1",
                "name": "ci",
                "redacted_value": "sk-abc...xyz",
                "created_at": 1,
                "last_used_at": 2,
                "expires_at": None,
                "owner_project_access": "active",
                "owner": {
                    "type": "user",
                    "user": {
                        "object": "organization.user",
                        "id": "user-1",
                        "name": "Ada",
                        "email": "ada@example.com",
                        "role": "owner",
                        "added_at": 3,
                    },
                },
                "a_field_from_the_future": {"x": 1},
            },
            {"id": "key_2"},
        ],
        "first_id": "key_1",
        "last_id": "key_2",
        "has_more": False,
    }
    got = DIRECTORY_DECODERS["api_keys"].decode(msgspec.json.encode(full))
    first, bare = got.data
    assert isinstance(first, ProjectApiKey) and first.owner is not None
    assert first.owner.user is not None and first.owner.user.email == "ada@example.com"
    assert first.owner.user.added_at == 3 and first.owner.service_account is None
    assert bare == ProjectApiKey(id="key_2")
    sa = {
        "object": "list",
        "data": [
            {
                "id": "key_3",
                "owner": {
                    "type": "service_account",
                    "service_account": {
                        "id": "svc_1",
                        "name": "bot",
                        "role": "member",
                        "created_at": 4,
                    },
                },
            }
        ],
    }
    [key] = DIRECTORY_DECODERS["api_keys"].decode(msgspec.json.encode(sa)).data
    assert key.owner is not None and key.owner.service_account is not None
    assert key.owner.service_account.name == "bot"
    users = {"data": [{"id": "user-1", "email": "a@b.c", "role": "reader", "added_at": 5}]}
    [user] = DIRECTORY_DECODERS["users"].decode(msgspec.json.encode(users)).data
    assert user == OrganizationUser(id="user-1", email="a@b.c", role="reader", added_at=5)
    projects = {
        "data": [{"id": "proj_1", "name": "Checkout", "status": "archived", "archived_at": 9}]
    }
    [project] = DIRECTORY_DECODERS["projects"].decode(msgspec.json.encode(projects)).data
    assert (project.name, project.status, project.archived_at) == ("Checkout", "archived", 9)
    accounts = {"data": [{"id": "svc_1", "name": "bot", "role": "member", "created_at": 4}]}
    [account] = DIRECTORY_DECODERS["service_accounts"].decode(msgspec.json.encode(accounts)).data
    assert (account.name, account.role) == ("bot", "member")


@pytest.mark.parametrize("body", [b'{"data": "nope"}', b"[]", b'{"data": [{"name": "no id"}]}'])
def test_a_body_that_is_not_a_list_is_refused(body: bytes) -> None:
    with pytest.raises(APIResponseValidationError, match="not a list of projects"):
        DIRECTORY_DECODERS["projects"].decode(body)


DIRECTORY = Directory(
    projects=[Project(id="proj_a", name="Checkout")],
    users=[OrganizationUser(id="user-a", email="ada@example.com")],
    api_keys=[ProjectApiKey(id="key_a", name="ci")],
)


def test_rows_get_names_after_their_ids() -> None:
    bucket = UsageBucket(
        start_time=0,
        end_time=60,
        results=[
            CompletionsResult(
                input_tokens=1,
                output_tokens=2,
                num_model_requests=3,
                project_id="proj_a",
                user_id="user-a",
                api_key_id="key_gone",
            )
        ],
    )
    [row] = to_rows([bucket], directory=DIRECTORY)
    keys = list(row)
    assert keys[keys.index("project_id") + 1] == "project_name"
    assert keys[keys.index("user_id") + 1] == "user_email"
    assert keys[keys.index("api_key_id") + 1] == "api_key_name"
    assert (row["project_name"], row["user_email"], row["api_key_name"]) == (
        "Checkout",
        "ada@example.com",
        None,  # a deleted key: None, not an error
    )
    [plain] = to_rows([bucket])
    assert "project_name" not in plain and list(plain) == [
        k for k in keys if not k.endswith(("_name", "_email"))
    ]


def test_rows_without_id_columns_get_no_name_columns() -> None:
    bucket = UsageBucket(
        start_time=0,
        end_time=86400,
        results=[
            CostsResult(
                amount=CostAmount(value=1.0, currency="usd"), line_item="x", project_id=None
            )
        ],
    )
    [row] = to_rows([bucket], directory=DIRECTORY)
    assert row["project_name"] is None and "user_email" in row and "api_key_name" in row
    assert DIRECTORY.project_name(None) is None


def test_later_upstream_fields_decode() -> None:
    """The fields of SDK 3.63's models that the client used to drop."""
    projects = {
        "data": [
            {
                "id": "proj_1",
                "object": "organization.project",
                "created_at": 1,
                "external_key_id": "ekey_1",
                "residency": "EU_STORAGE_PROCESSING",
            },
            {"id": "proj_2", "residency": "MARS_STORAGE"},  # a region added later: kept
        ]
    }
    eu, mars = DIRECTORY_DECODERS["projects"].decode(msgspec.json.encode(projects)).data
    assert (eu.external_key_id, eu.residency) == ("ekey_1", "EU_STORAGE_PROCESSING")
    assert (mars.external_key_id, mars.residency) == (None, "MARS_STORAGE")
    user = {
        "id": "user-1",
        "object": "organization.user",
        "added_at": 5,
        "created": 4,
        "api_key_last_used_at": 6,
        "developer_persona": "engineer",
        "technical_level": "advanced",
        "is_default": True,
        "is_service_account": False,
        "is_scim_managed": False,
        "is_scale_tier_authorized_purchaser": True,
        "projects": {"object": "list", "data": [{"id": "proj_1", "name": "A", "role": "owner"}]},
        "user": {
            "id": "user-1",
            "object": "user",
            "name": "Ada",
            "email": "ada@example.com",
            "picture": None,
            "enabled": True,
            "banned": False,
            "banned_at": None,
        },
    }
    [got] = DIRECTORY_DECODERS["users"].decode(msgspec.json.encode({"data": [user]})).data
    assert {k: v for k, v in got.to_dict().items() if k not in user} == {
        "name": None,
        "email": None,
        "role": None,
    }
    assert {k: v for k, v in got.to_dict().items() if k in user} == user  # every field kept
    assert got.projects is not None and got.projects.data[0].role == "owner"
    assert got.user is not None and got.user.enabled is True
    assert (got.created, got.is_service_account, got.is_default) == (4, False, True)
    key = {
        "id": "key_1",
        "spend_limit": {
            "threshold_amount": 12_345,
            "currency": "USD",
            "interval": "month",
            "enforcement": {"status": "enforcing"},
        },
    }
    [limited] = DIRECTORY_DECODERS["api_keys"].decode(msgspec.json.encode({"data": [key]})).data
    assert limited.spend_limit == ApiKeySpendLimit(
        threshold_amount=12_345, enforcement=SpendLimitEnforcement(status="enforcing")
    )
    assert limited.spend_limit.threshold_usd == 123.45  # cents to dollars
    assert limited.spend_limit.to_dict() == key["spend_limit"]
    [plain] = DIRECTORY_DECODERS["api_keys"].decode(b'{"data": [{"id": "key_2"}]}').data
    assert plain.spend_limit is None


@pytest.mark.parametrize("value", [None, "active", "inactive", "any"])
def test_owner_project_access_is_checked(value: str | None) -> None:
    assert check_owner_project_access(value) == value


@pytest.mark.parametrize("bad", ["all", "Any", "", 0, ["any"]])
def test_a_bad_owner_project_access_names_the_argument(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^owner_project_access: expected one of 'active'"):
        check_owner_project_access(bad)


def status_error(cls: type[errors.APIStatusError], status: int) -> errors.APIStatusError:
    return cls(f"HTTP {status}", status_code=status, request_id="req_1")


ARCHIVED = Project(id="proj_old", status="archived", archived_at=9)
ACTIVE = Project(id="proj_new", status="active")


@pytest.mark.parametrize(
    ("project", "listing", "exc", "status", "expected"),
    [
        (ARCHIVED, "service_accounts", status_error(errors.BadRequestError, 400), 400, True),
        # Archived by the time stamp alone (an older document without `status`).
        (
            Project(id="proj_x", archived_at=9),
            "service_accounts",
            status_error(errors.BadRequestError, 400),
            400,
            True,
        ),
        (ARCHIVED, "api_keys", status_error(errors.BadRequestError, 400), 400, False),
        (ACTIVE, "service_accounts", status_error(errors.BadRequestError, 400), 400, False),
        (ACTIVE, "api_keys", status_error(errors.NotFoundError, 404), 404, False),
        (ACTIVE, "api_keys", status_error(errors.InternalServerError, 503), 503, False),
        (ACTIVE, "api_keys", status_error(errors.RateLimitError, 429), 429, False),
        (ACTIVE, "api_keys", errors.APIConnectionError(), None, False),
        (ACTIVE, "api_keys", errors.APITimeoutError(), None, False),
        (ACTIVE, "api_keys", errors.APIResponseValidationError("not a list"), None, False),
    ],
)
def test_a_failing_listing_is_left_out(
    project: Project,
    listing: Literal["api_keys", "service_accounts"],
    exc: errors.APIError,
    status: int | None,
    expected: bool,
) -> None:
    skipped = skipped_listing(project, listing, exc)
    assert skipped == SkippedListing(
        project_id=project.id,
        listing=listing,
        status_code=status,
        reason=str(exc),
        expected=expected,
    )


@pytest.mark.parametrize(
    "exc",
    [
        status_error(errors.AuthenticationError, 401),
        status_error(errors.PermissionDeniedError, 403),
    ],
)
def test_a_refused_key_is_not_left_out_but_raised(exc: errors.APIError) -> None:
    assert skipped_listing(ACTIVE, "api_keys", exc) is None


def test_a_directory_says_what_it_left_out() -> None:
    assert DIRECTORY.skipped == []
    gap = SkippedListing(project_id="proj_a", listing="api_keys", status_code=500, reason="boom")
    partial = Directory(projects=[], users=[], api_keys=[], skipped=[gap])
    assert partial.to_dict()["skipped"] == [
        {
            "project_id": "proj_a",
            "listing": "api_keys",
            "status_code": 500,
            "reason": "boom",
            "expected": False,
        }
    ]
    assert msgspec.json.decode(msgspec.json.encode(partial), type=Directory) == partial
