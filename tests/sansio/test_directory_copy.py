"""Copies of a Directory answer lookups as the original does (issue 18, defect 5)."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import msgspec
import pytest

from openai_usage_async.models import Directory, OrganizationUser, Project, ProjectApiKey


def directory() -> Directory:
    return Directory(
        projects=[Project(id="proj_a", name="Checkout")],
        users=[OrganizationUser(id="user-a", email="a@example.com")],
        api_keys=[ProjectApiKey(id="key_a", name="CI")],
    )


COPIES: dict[str, Callable[[Directory], Directory]] = {
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "pickle": lambda d: pickle.loads(pickle.dumps(d)),
    "replace": msgspec.structs.replace,
}


@pytest.mark.parametrize("looked_up_first", [False, True], ids=["fresh", "used"])
@pytest.mark.parametrize("make", COPIES.values(), ids=COPIES.keys())
def test_a_copy_answers_lookups(
    make: Callable[[Directory], Directory], looked_up_first: bool
) -> None:
    original = directory()
    if looked_up_first:  # the lookup tables already built in the original
        assert original.project_name("proj_a") == "Checkout"
    twin = make(original)
    assert twin == original
    assert twin.project_name("proj_a") == "Checkout"
    assert twin.user_email("user-a") == "a@example.com"
    assert twin.api_key_name("key_a") == "CI"
    assert twin.project_name("proj_gone") is None
    assert make(twin).api_key_name("key_a") == "CI"  # a copy of a copy


def test_replace_with_other_fields_answers_from_them() -> None:
    original = directory()
    assert original.project_name("proj_a") == "Checkout"  # build the original's tables
    renamed = msgspec.structs.replace(original, projects=[Project(id="proj_a", name="Store")])
    assert renamed.project_name("proj_a") == "Store"
    assert renamed.user_email("user-a") == "a@example.com"
    assert original.project_name("proj_a") == "Checkout"


def test_the_lookup_cache_is_not_a_field() -> None:
    original = directory()
    original.project_name("proj_a")
    assert set(original.to_dict()) == set(Directory.__struct_fields__)
    assert msgspec.json.decode(msgspec.json.encode(original), type=Directory) == original


def test_an_id_that_is_not_a_string_names_nothing() -> None:
    # An unknown result's field can hold anything; a list must not raise "unhashable".
    for odd in (["proj_a"], {"id": "proj_a"}, 5):
        assert directory().project_name(odd) is None  # type: ignore[arg-type]
