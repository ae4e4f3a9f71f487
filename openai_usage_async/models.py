"""The typed objects the client returns: pages, buckets, and one result type per tag.

They are ``msgspec.Struct`` s, decoded straight from the response bytes (no dicts in
between), frozen, and compared by value. A page's buckets are half-open
``[start_time, end_time)`` in Unix seconds; each bucket's ``results`` holds the results of
the endpoint's type, tagged by ``object``::

    async for bucket in client.usage.audio_speeches.iter(start_time=t0, end_time=t1):
        for r in bucket.results:          # AudioSpeechesResult | UnknownResult
            print(bucket.start_time, r.model, r.characters)

A result whose tag this version does not know (the service grows) arrives as an
:class:`UnknownResult` that keeps every field, readable as attributes. For export and data
frames, :func:`to_rows` flattens buckets into one plain dict per result. Every model has
``to_dict()``, the plain-data form the API sends (what the official SDK's ``model_dump()``
gives); pydantic's method names raise an ``AttributeError`` that says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final, Generic, Literal, TypeVar

import msgspec

__all__ = [
    "KNOWN_RESULT_TYPES",
    "NAME_COLUMNS",
    "ApiKeyOwner",
    "ApiKeyOwnerServiceAccount",
    "ApiKeyOwnerUser",
    "ApiKeySpendLimit",
    "AudioSpeechesResult",
    "AudioTranscriptionsResult",
    "CodeInterpreterSessionsResult",
    "CompletionsResult",
    "CostAmount",
    "CostsResult",
    "DecisionsResult",
    "Directory",
    "EmbeddingsResult",
    "FileSearchesResult",
    "ImagesResult",
    "ModerationsResult",
    "OrganizationUser",
    "OrganizationUserDetails",
    "OrganizationUserProject",
    "OrganizationUserProjects",
    "Project",
    "ProjectApiKey",
    "ProjectServiceAccount",
    "SkippedListing",
    "SpendAlert",
    "SpendLimit",
    "SpendLimitEnforcement",
    "SpendNotificationChannel",
    "UnknownResult",
    "UsageBucket",
    "UsagePage",
    "VectorStoresResult",
    "WebSearchesResult",
    "row_columns",
    "to_rows",
]

R = TypeVar("R")


class _Model:
    """What every model adds: :meth:`to_dict`, and a pointer to it for pydantic habits."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """This object as plain dicts, lists and scalars, shaped as the API sends it.

        The official SDK's pydantic models have ``model_dump()``; these are
        ``msgspec.Struct`` s: ``to_dict()`` (or ``msgspec.to_builtins(obj)``) gives the
        dict, ``msgspec.json.encode(obj)`` the JSON, ``msgspec.structs.replace(obj, ...)``
        a changed copy.
        """
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


# The official SDK's (pydantic's) method names, which these models do not have: reading one
# raises AttributeError saying what to write. Properties on the class, not __getattr__, so
# reading a real field costs nothing more. Set here, out of sight of type checkers, which
# should keep reporting these names as missing.
_PYDANTIC_NAMES: Final = (
    "model_dump",
    "model_dump_json",
    "model_copy",
    "model_fields",
    "model_validate",
    "dict",
    "json",
    "to_json",
)


def _not_pydantic(name: str) -> property:
    def refuse(self: object) -> Any:
        raise AttributeError(_not_pydantic_message(type(self).__name__, name))

    return property(refuse)


def _not_pydantic_message(owner: str, name: str) -> str:
    return (
        f"{owner!r} has no {name!r}: it is a msgspec.Struct, not a pydantic model; use "
        ".to_dict() (or msgspec.to_builtins(obj)) for a dict, msgspec.json.encode(obj) for "
        "JSON, msgspec.structs.replace(obj, ...) for a changed copy"
    )


for _name in _PYDANTIC_NAMES:
    setattr(_Model, _name, _not_pydantic(_name))


class _Result(msgspec.Struct, _Model, frozen=True, kw_only=True, tag_field="object", gc=False):
    """Base of the tagged result types (the ``object`` tag is not a field)."""

    @property
    def object(self) -> str:
        """The result's ``object`` tag, as the service sends it."""
        tag = self.__struct_config__.tag
        assert isinstance(tag, str)
        return tag


class _TokenUsage(_Result, frozen=True, kw_only=True):
    input_tokens: int
    output_tokens: int
    num_model_requests: int
    input_cached_tokens: int | None = None
    input_uncached_tokens: int | None = None
    input_text_tokens: int | None = None
    input_audio_tokens: int | None = None
    input_image_tokens: int | None = None
    input_cached_text_tokens: int | None = None
    input_cached_audio_tokens: int | None = None
    input_cached_image_tokens: int | None = None
    input_cache_write_tokens: int | None = None
    input_cache_write_30m_tokens: int | None = None
    input_cache_write_12h_tokens: int | None = None
    output_text_tokens: int | None = None
    output_audio_tokens: int | None = None
    output_image_tokens: int | None = None
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    batch: bool | None = None
    service_tier: str | None = None
    api_source: str | None = None


class CompletionsResult(
    _TokenUsage, frozen=True, kw_only=True, tag="organization.usage.completions.result"
):
    """Completions usage in one bucket (one group when ``group_by`` is used)."""


class DecisionsResult(
    _TokenUsage, frozen=True, kw_only=True, tag="organization.usage.decisions.result"
):
    """Decisions usage in one bucket; the same fields as completions."""


class _ModelUsage(_Result, frozen=True, kw_only=True):
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None


class EmbeddingsResult(
    _ModelUsage, frozen=True, kw_only=True, tag="organization.usage.embeddings.result"
):
    """Embeddings usage in one bucket."""

    input_tokens: int
    num_model_requests: int


class ModerationsResult(
    _ModelUsage, frozen=True, kw_only=True, tag="organization.usage.moderations.result"
):
    """Moderations usage in one bucket."""

    input_tokens: int
    num_model_requests: int


class ImagesResult(_ModelUsage, frozen=True, kw_only=True, tag="organization.usage.images.result"):
    """Images usage in one bucket."""

    images: int
    num_model_requests: int
    size: str | None = None
    source: str | None = None


class AudioSpeechesResult(
    _ModelUsage, frozen=True, kw_only=True, tag="organization.usage.audio_speeches.result"
):
    """Text-to-speech usage in one bucket."""

    characters: int
    num_model_requests: int


class AudioTranscriptionsResult(
    _ModelUsage, frozen=True, kw_only=True, tag="organization.usage.audio_transcriptions.result"
):
    """Speech-to-text usage in one bucket."""

    seconds: int
    num_model_requests: int


class VectorStoresResult(
    _Result, frozen=True, kw_only=True, tag="organization.usage.vector_stores.result"
):
    """Vector store storage in one bucket."""

    usage_bytes: int
    project_id: str | None = None


class CodeInterpreterSessionsResult(
    _Result, frozen=True, kw_only=True, tag="organization.usage.code_interpreter_sessions.result"
):
    """Code interpreter sessions in one bucket."""

    num_sessions: int
    project_id: str | None = None


class FileSearchesResult(
    _Result, frozen=True, kw_only=True, tag="organization.usage.file_searches.result"
):
    """File search tool calls in one bucket (the ``file_search_calls`` endpoint)."""

    num_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    vector_store_id: str | None = None


class WebSearchesResult(
    _Result, frozen=True, kw_only=True, tag="organization.usage.web_searches.result"
):
    """Web search tool calls in one bucket (the ``web_search_calls`` endpoint)."""

    num_requests: int
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    context_level: str | None = None
    api_source: str | None = None


class CostAmount(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """A monetary value: ``value`` in ``currency`` (lowercase ISO 4217, e.g. ``"usd"``).

    Both are optional upstream (the official SDK types them so), so either may be None.
    """

    value: float | None = None
    currency: str | None = None


class CostsResult(_Result, frozen=True, kw_only=True, tag="organization.costs.result"):
    """Costs in one (daily) bucket; ``quantity`` is set when grouped by ``line_item``."""

    amount: CostAmount | None = None
    line_item: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    api_source: str | None = None
    quantity: float | None = None
    quantity_unit: str | None = None


class UnknownResult(msgspec.Struct, _Model, frozen=True, kw_only=True):
    """A result whose ``object`` tag this version does not know; ``fields`` keeps all of it.

    Fields read as attributes too (``r.num_requests``), so code written for a newer
    result type keeps working; a missing field raises ``AttributeError``.
    """

    object: str
    fields: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            if name in _PYDANTIC_NAMES:
                message = _not_pydantic_message(type(self).__name__, name)
                raise AttributeError(message) from None
            raise AttributeError(f"{self.object} result has no field {name!r}") from None

    def to_dict(self) -> dict[str, Any]:
        """The result as the service sent it: its ``object`` tag and every field."""
        return {"object": self.object, **self.fields}


def _result_types(base: type[_Result]) -> Iterator[type[_Result]]:
    for cls in base.__subclasses__():
        if isinstance(cls.__struct_config__.tag, str):
            yield cls
        yield from _result_types(cls)


#: ``object`` tag -> result type, for every tag this version knows: every tagged subclass
#: of the result base, so a new endpoint's result type needs no other edit.
KNOWN_RESULT_TYPES: Final[dict[str, type[Any]]] = {
    str(t.__struct_config__.tag): t for t in _result_types(_Result)
}


class UsageBucket(msgspec.Struct, _Model, Generic[R], frozen=True, kw_only=True, gc=False):
    """One time bucket: ``[start_time, end_time)`` in Unix seconds and its results.

    ``results`` is empty for a bucket with no usage.
    """

    # gc=False (here, on pages and on results): none of these objects can be part of a
    # reference cycle, and not tracking them makes decoding a large page about 10% faster.

    object: str = "bucket"
    start_time: int
    end_time: int
    results: list[R]

    def rows(self) -> list[dict[str, Any]]:
        """This bucket as flat rows (see :func:`to_rows`)."""
        return list(to_rows((self,)))

    def to_dict(self) -> dict[str, Any]:
        """The bucket as plain dicts, shaped as the API sends it (an unknown result keeps
        its fields flat, beside its ``object`` tag)."""
        return {
            "object": self.object,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "results": [_to_dict(r) for r in self.results],
        }


class UsagePage(msgspec.Struct, _Model, Generic[R], frozen=True, kw_only=True, gc=False):
    """One page of buckets, as one request returns it.

    ``next_page`` is the cursor for the following page when ``has_more`` is true.
    """

    object: str = "page"
    data: list[UsageBucket[R]]
    has_more: bool
    next_page: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The page as plain dicts, shaped as the API sends it."""
        return {
            "object": self.object,
            "data": [b.to_dict() for b in self.data],
            "has_more": self.has_more,
            "next_page": self.next_page,
        }


def _to_dict(value: object) -> Any:
    return value.to_dict() if isinstance(value, _Model) else msgspec.to_builtins(value)


def to_rows(
    buckets: Iterable[UsageBucket[Any]], *, directory: Directory | None = None
) -> Iterator[dict[str, Any]]:
    """Flatten buckets into one dict per result, for CSV, JSON lines or data frames.

    Each row starts with the bucket's ``start_time`` and ``end_time``, then the result's
    ``object`` tag and fields; a cost's ``amount`` becomes ``amount_value`` and
    ``amount_currency``. Buckets with no results yield no rows.

    The bucket's columns win: a field of an unknown result named ``start_time``,
    ``end_time`` or ``object`` is kept as ``result_start_time``, ``result_end_time`` or
    ``result_object`` instead of overwriting them.

    With a ``directory`` (``await client.organization.directory()``), ``project_name``
    follows ``project_id``, ``user_email`` follows ``user_id`` and ``api_key_name``
    follows ``api_key_id``, where those columns are there; an ID the directory does not
    know gives ``None``.
    """
    if directory is not None:
        yield from (_named(row, directory) for row in to_rows(buckets))
        return
    for bucket in buckets:
        for result in bucket.results:
            row: dict[str, Any] = {"start_time": bucket.start_time, "end_time": bucket.end_time}
            row["object"] = result.object
            if isinstance(result, UnknownResult):
                for name, value in result.fields.items():
                    if name in _BUCKET_COLUMNS:
                        if name == "object" and value == result.object:
                            continue  # the tag itself, already the `object` column
                        name = f"result_{name}"
                    row[name] = value
                yield row
                continue
            for name in result.__struct_fields__:
                value = getattr(result, name)
                if isinstance(value, CostAmount):
                    row["amount_value"] = value.value
                    row["amount_currency"] = value.currency
                elif name == "amount" and value is None:
                    row["amount_value"] = row["amount_currency"] = None
                else:
                    row[name] = value
            yield row


_BUCKET_COLUMNS: Final = frozenset({"start_time", "end_time", "object"})

#: ID column -> (name column after it, which directory lookup fills it).
NAME_COLUMNS: Final = {
    "project_id": ("project_name", "project_name"),
    "user_id": ("user_email", "user_email"),
    "api_key_id": ("api_key_name", "api_key_name"),
}


def _named(row: dict[str, Any], directory: Directory) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value
        named = NAME_COLUMNS.get(key)
        if named is not None:
            column, lookup = named
            out[column] = getattr(directory, lookup)(value)
    return out


# -- the organization directory: names for the IDs in usage data -----------------------------
#
# Every field the service may leave out or send as null has a default; unknown fields are
# ignored, so new upstream fields never break decoding. The `object` tag is kept as a plain
# field: list pages hold one kind of object each.


class Project(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """A project of the organization (``client.organization.projects``).

    ``status`` is ``"active"`` or ``"archived"``; ``residency`` is where the project keeps
    its data (``"GLOBAL"``, ``"EU_STORAGE_PROCESSING"``, ...: a plain string, so a region
    added upstream still decodes); ``external_key_id`` names the project's customer-managed
    encryption key, if it has one.
    """

    id: str
    object: str = "organization.project"
    name: str | None = None
    created_at: int | None = None
    archived_at: int | None = None
    status: str | None = None
    external_key_id: str | None = None
    residency: str | None = None


class OrganizationUserProject(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """A project a user belongs to, and the user's ``role`` there (``owner``/``member``)."""

    id: str | None = None
    name: str | None = None
    role: str | None = None


class OrganizationUserProjects(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """The projects of an :class:`OrganizationUser`, when the service includes them."""

    object: str = "list"
    data: list[OrganizationUserProject] = msgspec.field(default_factory=list)


class OrganizationUserDetails(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """The account behind an :class:`OrganizationUser` (the SDK's nested ``user``)."""

    id: str | None = None
    object: str | None = None
    name: str | None = None
    email: str | None = None
    picture: str | None = None
    enabled: bool | None = None
    banned: bool | None = None
    banned_at: int | None = None


class OrganizationUser(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """A member of the organization (``client.organization.users``).

    ``added_at`` is when the user joined the organization, ``created`` when the account
    was made; ``api_key_last_used_at`` is the last use of any of the user's API keys.
    ``projects`` and ``user`` come only when the service includes them.
    """

    id: str
    object: str = "organization.user"
    name: str | None = None
    email: str | None = None
    role: str | None = None
    added_at: int | None = None
    created: int | None = None
    api_key_last_used_at: int | None = None
    is_default: bool | None = None
    is_service_account: bool | None = None
    is_scim_managed: bool | None = None
    is_scale_tier_authorized_purchaser: bool | None = None
    developer_persona: str | None = None
    technical_level: str | None = None
    projects: OrganizationUserProjects | None = None
    user: OrganizationUserDetails | None = None


class ApiKeyOwnerUser(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """The user who owns a project API key (older documents add ``object`` and ``added_at``)."""

    id: str | None = None
    object: str | None = None
    name: str | None = None
    email: str | None = None
    role: str | None = None
    created_at: int | None = None
    added_at: int | None = None


class ApiKeyOwnerServiceAccount(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """The service account that owns a project API key."""

    id: str | None = None
    name: str | None = None
    role: str | None = None
    created_at: int | None = None


class ApiKeyOwner(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """Who owns a project API key: ``type`` is ``"user"`` or ``"service_account"``."""

    type: str | None = None
    user: ApiKeyOwnerUser | None = None
    service_account: ApiKeyOwnerServiceAccount | None = None


class SpendLimitEnforcement(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """Whether a hard spend limit is blocking requests now.

    ``status`` is a state, not a setting: ``"enforcing"`` while the limit is reached and
    requests are refused, ``"inactive"`` otherwise.
    """

    status: str | None = None


class ApiKeySpendLimit(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """A hard spend limit on a project API key (``ProjectApiKey.spend_limit``).

    ``threshold_amount`` is in integer **cents** of ``currency`` (only ``"USD"`` so far)
    per ``interval`` (only ``"month"``, a UTC calendar month); :attr:`threshold_usd` gives
    dollars, as the Costs API counts them::

        if key.spend_limit is not None:
            print(key.name, key.spend_limit.threshold_usd, key.spend_limit.enforcement)
    """

    threshold_amount: int
    currency: str = "USD"
    interval: str = "month"
    enforcement: SpendLimitEnforcement | None = None

    @property
    def threshold_usd(self) -> float:
        """``threshold_amount`` in dollars (the amount is integer cents)."""
        return self.threshold_amount / 100


class ProjectApiKey(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """An API key of a project; ``redacted_value`` is all the service shows of the key."""

    id: str
    object: str = "organization.project.api_key"
    name: str | None = None
    redacted_value: str | None = None
    created_at: int | None = None
    last_used_at: int | None = None
    expires_at: int | None = None
    owner_project_access: str | None = None
    owner: ApiKeyOwner | None = None
    spend_limit: ApiKeySpendLimit | None = None
    #: The project this key belongs to (not sent by the service: the client fills it in).
    project_id: str | None = None


class ProjectServiceAccount(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """A service account of a project."""

    id: str
    object: str = "organization.project.service_account"
    name: str | None = None
    role: str | None = None
    created_at: int | None = None
    #: The project it belongs to (not sent by the service: the client fills it in).
    project_id: str | None = None


# -- spend limits and alerts -----------------------------------------------------------------
#
# Amounts are integer cents of `currency` as the service sends them (the Costs API answers
# dollars as floats): `threshold_usd` converts. Every limit and alert so far is in USD per
# UTC calendar month (`interval: "month"`).


class SpendNotificationChannel(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """Who is emailed about a spend limit or alert: ``type`` is ``"email"`` (the only kind
    so far), ``recipients`` their addresses, ``subject_prefix`` what starts the subject
    (None: the service's default)."""

    type: str = "email"
    recipients: list[str] = msgspec.field(default_factory=list)
    subject_prefix: str | None = None


class SpendLimit(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """A hard spend limit of the organization or of one project
    (``client.organization.spend_limit.get()``,
    ``client.organization.projects.spend_limit.get(project_id)``).

    ``object`` is ``"organization.spend_limit"`` or ``"project.spend_limit"``.
    ``threshold_amount`` is in integer **cents** of ``currency`` (only ``"USD"`` so far)
    per ``interval`` (only ``"month"``, a UTC calendar month); :attr:`threshold_usd` gives
    dollars, as the Costs API counts them.

    ``enforcement.status`` is a state, not a setting: ``"enforcing"`` while the limit is
    reached and the service refuses requests (a 429 ``..._spend_limit_exceeded``, raised
    as :class:`~openai_usage_async.errors.SpendLimitExceededError`), ``"inactive"``
    otherwise. Every hard limit blocks once it is reached; :attr:`enforcing` says whether
    this one does now. ``notification_channel`` is who is emailed when it is reached
    (None when the service sends none). ``project_id`` is the project of a project's limit
    (not sent by the service: the client fills it in)::

        limit = await client.organization.spend_limit.get()
        if limit is not None:
            print(f"${limit.threshold_usd:,.2f} a month", limit.enforcement)
    """

    object: str
    threshold_amount: int
    currency: str = "USD"
    interval: str = "month"
    enforcement: SpendLimitEnforcement | None = None
    notification_channel: SpendNotificationChannel | None = None
    #: The project this limit is of (not sent by the service: the client fills it in);
    #: None for the organization's.
    project_id: str | None = None

    @property
    def threshold_usd(self) -> float:
        """``threshold_amount`` in dollars (the amount is integer cents)."""
        return self.threshold_amount / 100

    @property
    def enforcing(self) -> bool:
        """Whether the limit is reached and blocking requests now (``enforcement.status``
        is ``"enforcing"``)."""
        return self.enforcement is not None and self.enforcement.status == "enforcing"

    @property
    def scope(self) -> Literal["organization", "project"]:
        """``"project"`` for a project's limit, else ``"organization"``."""
        return "project" if self.object.startswith("project.") else "organization"


class SpendAlert(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """An email spend alert of the organization or of one project
    (``client.organization.spend_alerts``, ``client.organization.projects.spend_alerts``).

    An alert only sends email when the month's spend reaches ``threshold_amount``
    (integer **cents** of ``currency``; :attr:`threshold_usd` in dollars); it never blocks
    requests. ``object`` is ``"organization.spend_alert"`` or ``"project.spend_alert"``;
    ``project_id`` is the project of a project's alert (not sent by the service: the
    client fills it in).
    """

    id: str
    object: str
    threshold_amount: int
    currency: str = "USD"
    interval: str = "month"
    notification_channel: SpendNotificationChannel | None = None
    #: The project this alert is of (not sent by the service: the client fills it in);
    #: None for the organization's.
    project_id: str | None = None

    @property
    def threshold_usd(self) -> float:
        """``threshold_amount`` in dollars (the amount is integer cents)."""
        return self.threshold_amount / 100

    @property
    def scope(self) -> Literal["organization", "project"]:
        """``"project"`` for a project's alert, else ``"organization"``."""
        return "project" if self.object.startswith("project.") else "organization"


class SkippedListing(msgspec.Struct, _Model, frozen=True, kw_only=True, gc=False):
    """A project's listing that :meth:`~openai_usage_async.Organization.directory` could not
    read, and so left out (``Directory.skipped``).

    ``listing`` is ``"api_keys"`` or ``"service_accounts"``; ``status_code`` the HTTP status of
    the last answer (None when there was none: a connection failure, a timeout); ``reason``
    the error's message (after the client's retries). ``expected`` is true for the answer
    the service documents and nothing is lost by: the 400 "project is archived" to an
    archived project's ``service_accounts``.
    """

    project_id: str
    listing: Literal["api_keys", "service_accounts"]
    status_code: int | None = None
    reason: str = ""
    expected: bool = False


class Directory(msgspec.Struct, _Model, frozen=True, kw_only=True, dict=True):
    """Everything the organization names: projects (archived ones too), users, keys and
    service accounts, with lookups from the IDs in usage data.

    An ID it does not know (a deleted key, say) gives ``None``, never an error::

        directory = await client.organization.directory()
        directory.project_name("proj_abc")      # "Checkout"
        rows = to_rows(buckets, directory=directory)
    """

    projects: list[Project]
    users: list[OrganizationUser]
    api_keys: list[ProjectApiKey]
    service_accounts: list[ProjectServiceAccount] = msgspec.field(default_factory=list)
    #: The project listings left out because they failed (one project's keys or service
    #: accounts, say); empty when the directory is complete. See :class:`SkippedListing`.
    skipped: list[SkippedListing] = msgspec.field(default_factory=list)

    def project_name(self, project_id: str | None) -> str | None:
        """The project's name, or None for an ID the directory does not know."""
        return self._names(0, project_id)

    def user_email(self, user_id: str | None) -> str | None:
        """The user's email, or None for an ID the directory does not know."""
        return self._names(1, user_id)

    def api_key_name(self, api_key_id: str | None) -> str | None:
        """The API key's name, or None for an ID the directory does not know."""
        return self._names(2, api_key_id)

    def _names(self, which: int, key: str | None) -> str | None:
        if not isinstance(key, str):  # None, or an unknown tag's field of another type
            return None
        # The tables are a cache in __dict__ (dict=True), not a field, built at the first
        # lookup: copy.copy, deepcopy, pickle and structs.replace copy the fields only
        # (copy.copy runs no __post_init__ either), so a copy builds its own from them.
        lookups: tuple[dict[str, str | None], ...] | None = self.__dict__.get("_lookups")
        if lookups is None:
            lookups = self.__dict__["_lookups"] = (
                {p.id: p.name for p in self.projects},
                {u.id: u.email for u in self.users},
                {k.id: k.name for k in self.api_keys},
            )
        return lookups[which].get(key)


def row_columns(result_type: type, names: bool = False) -> list[tuple[str, str]]:
    """The flat-row columns of a result type, with a kind: int, float, str or bool; with
    ``names``, each ID column is followed by its name column (see ``to_rows``)."""
    info = msgspec.inspect.type_info(result_type)
    assert isinstance(info, msgspec.inspect.StructType)
    columns = [("start_time", "int"), ("end_time", "int"), ("object", "str")]
    kinds = {
        msgspec.inspect.IntType: "int",
        msgspec.inspect.FloatType: "float",
        msgspec.inspect.StrType: "str",
        msgspec.inspect.BoolType: "bool",
    }
    for field in info.fields:
        t = field.type
        if isinstance(t, msgspec.inspect.UnionType):
            t = next(x for x in t.types if not isinstance(x, msgspec.inspect.NoneType))
        if isinstance(t, msgspec.inspect.StructType):  # a cost's amount
            columns += [(f"{field.name}_value", "float"), (f"{field.name}_currency", "str")]
        else:
            columns.append((field.name, kinds.get(type(t), "str")))
            if names and field.name in NAME_COLUMNS:
                columns.append((NAME_COLUMNS[field.name][0], "str"))
    return columns
