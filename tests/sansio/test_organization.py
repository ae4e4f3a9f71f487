"""The directory, pure: list pages and their guards, object decoding, names in rows."""

from __future__ import annotations

import msgspec
import pytest

from openai_usage_async._sansio.organization import (
    DIRECTORY_DECODERS,
    ListCursor,
    ListPage,
    check_limit,
    check_project_id,
)
from openai_usage_async.errors import APIResponseValidationError
from openai_usage_async.models import (
    CompletionsResult,
    CostAmount,
    CostsResult,
    Directory,
    OrganizationUser,
    Project,
    ProjectApiKey,
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
