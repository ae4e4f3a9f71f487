"""The emulator's synthetic organization, and the page data it answers with.

Theory of operation
-------------------
Every number the emulator serves must add up: the sum over any ``group_by`` equals the
ungrouped total, a filter restricts exactly, a daily bucket equals the sum of its hourly
and minute buckets, and costs agree with usage for the same period. We get all of that
by construction, from a model that is linear in one quantity.

* A **stream** is one fixed combination of every dimension an endpoint has (project,
  user, API key, model, batch, ...). Each endpoint has a few dozen, drawn from the seed.
  A query selects streams with its filters and sums them by its ``group_by`` key, so
  grouping and filtering can never disagree with the totals.
* Each stream follows one of four **channels** of activity (an Americas working day, a
  European one, a nightly batch window, a flat background), each with its own shape by
  hour of day and weekday, seeded noise per hour, and shared quiet periods (one day in
  about forty, and a maintenance hour at 04:00 UTC one night in three) in which every
  channel is zero. A channel's activity ``act(h)`` is an integer per UTC hour ``h``;
  within the hour it accrues linearly, so the activity in any interval ``[a, b)`` is
  ``floor(act*(b-h0)/3600) - floor(act*(a-h0)/3600)`` summed over the hours it touches.
  Those floors telescope: intervals that tile a range add up to the range exactly,
  whatever their widths, partial first and last buckets included.
* A stream's metrics are integer coefficients times its channel's activity
  (``input_tokens = 2400 * A``, ``num_model_requests = 2 * A``, ...), so every identity
  of the upstream schema (``input_tokens = input_cached_tokens + input_uncached_tokens +
  input_cache_write_tokens``, ...) holds in every bucket, and sums of streams stay exact.
* Costs are further streams derived from the usage streams: a line item per priced
  metric (``"gpt-4o-2024-08-06, input"``), whose quantity is that metric and whose amount
  is quantity times the price in :data:`PRICES`.
* Nothing happens after ``now`` (the emulator's clock), so the current bucket grows as
  time passes; and ``revision`` (the data-revision knob) inflates the activity of the
  hours that ended less than ``revision_window_s`` ago, as the service does while it
  settles recent buckets.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from .._sansio.endpoints import ENDPOINTS, EndpointSpec
from .directory import Directory, build_directory

__all__ = ["METRICS", "PRICES", "TEXT_PRICES", "Organization", "Stream"]

_M64: Final = (1 << 64) - 1


def _mix64(z: int) -> int:
    # splitmix64's finalizer: a cheap, well-spread hash of a 64-bit integer.
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _hash(*parts: int) -> int:
    h = 0
    for p in parts:
        h = _mix64(h ^ (p & _M64))
    return h


# Channel shapes: weight by UTC hour of day, and a weekday factor (Mon=0 .. Sun=6).
def _americas(hod: int) -> float:
    return 1.0 if 14 <= hod <= 23 else (0.45 if hod in (0, 1, 13) else 0.08)


def _europe(hod: int) -> float:
    return 1.0 if 7 <= hod <= 16 else (0.4 if hod in (6, 17, 18) else 0.05)


def _nightly(hod: int) -> float:
    return 1.0 if hod <= 5 else 0.04


def _background(hod: int) -> float:
    return 0.35


_CHANNELS: Final[tuple[tuple[Callable[[int], float], float, float], ...]] = (
    # (shape, peak activity per hour, weekend factor)
    (_americas, 80.0, 0.3),
    (_europe, 60.0, 0.25),
    (_nightly, 100.0, 1.0),
    (_background, 40.0, 0.9),
)
N_CHANNELS: Final = len(_CHANNELS)

_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday.

# USD per unit of quantity, by line item prefix (model) or by line item name.
PRICES: Final[Mapping[str, float]] = {
    # text models: per million tokens, in TEXT_PRICES
    "dall-e-3": 0.04,  # per image
    "gpt-image-1": 0.042,
    "tts-1": 15.0 / 1e6,  # per character
    "gpt-4o-mini-tts": 12.0 / 1e6,
    "whisper-1": 0.006 / 60,  # per second
    "gpt-4o-transcribe": 0.006 / 60,
    "vector store storage": 0.10 / 24,  # per GiB-hour
    "code interpreter sessions": 0.03,  # per session
    "file search tool calls": 2.5 / 1000,  # per call
    "web search tool calls": 10.0 / 1000,
}

# Per million tokens: input, cached input, output.
TEXT_PRICES: Final[Mapping[str, tuple[float, float, float]]] = {
    "gpt-4o-2024-08-06": (2.5, 1.25, 10.0),
    "gpt-4o-mini-2024-07-18": (0.15, 0.075, 0.6),
    "gpt-4.1-2025-04-14": (2.0, 0.5, 8.0),
    "gpt-4.1-mini-2025-04-14": (0.4, 0.1, 1.6),
    "gpt-4.1-nano-2025-04-14": (0.1, 0.025, 0.4),
    "o3-2025-04-16": (2.0, 0.5, 8.0),
    "o4-mini-2025-04-16": (1.1, 0.275, 4.4),
    "gpt-5-2025-08-07": (1.25, 0.125, 10.0),
    "gpt-5-mini-2025-08-07": (0.25, 0.025, 2.0),
    "gpt-4o-audio-preview-2024-12-17": (2.5, 1.25, 10.0),
    "text-embedding-3-small": (0.02, 0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.13, 0.0),
    "omni-moderation-latest": (0.0, 0.0, 0.0),
}

# Models first seen on these dates (UTC midnight): no usage before.
_LAUNCHED: Final[Mapping[str, int]] = {
    "gpt-4.1-2025-04-14": 1744588800,  # 2025-04-14
    "gpt-4.1-mini-2025-04-14": 1744588800,
    "gpt-4.1-nano-2025-04-14": 1744588800,
    "o3-2025-04-16": 1744761600,
    "o4-mini-2025-04-16": 1744761600,
    "gpt-5-2025-08-07": 1754524800,  # 2025-08-07
    "gpt-5-mini-2025-08-07": 1754524800,
}

_CHAT_MODELS: Final = tuple(m for m in TEXT_PRICES if not m.startswith(("text-", "omni-")))
_EMBEDDING_MODELS: Final = ("text-embedding-3-small", "text-embedding-3-large")

# Dimension fields of each endpoint's result, in the order results list them.
_DIMENSIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "completions": (
        "project_id",
        "user_id",
        "api_key_id",
        "model",
        "batch",
        "service_tier",
        "api_source",
    ),
    "embeddings": ("project_id", "user_id", "api_key_id", "model"),
    "moderations": ("project_id", "user_id", "api_key_id", "model"),
    "images": ("source", "size", "project_id", "user_id", "api_key_id", "model"),
    "audio_speeches": ("project_id", "user_id", "api_key_id", "model"),
    "audio_transcriptions": ("project_id", "user_id", "api_key_id", "model"),
    "vector_stores": ("project_id",),
    "code_interpreter_sessions": ("project_id",),
    "file_search_calls": ("project_id", "user_id", "api_key_id", "vector_store_id"),
    "web_search_calls": (
        "project_id",
        "user_id",
        "api_key_id",
        "model",
        "context_level",
        "api_source",
    ),
    "decisions": (
        "project_id",
        "user_id",
        "api_key_id",
        "model",
        "batch",
        "service_tier",
        "api_source",
    ),
    "costs": ("line_item", "project_id", "user_id", "api_key_id", "api_source"),
}

_COMPLETION_METRICS: Final = (
    "input_tokens",
    "output_tokens",
    "input_cached_tokens",
    "input_uncached_tokens",
    "input_text_tokens",
    "input_audio_tokens",
    "input_image_tokens",
    "input_cached_text_tokens",
    "input_cached_audio_tokens",
    "input_cached_image_tokens",
    "input_cache_write_tokens",
    "input_cache_write_30m_tokens",
    "input_cache_write_12h_tokens",
    "output_text_tokens",
    "output_audio_tokens",
    "output_image_tokens",
    "num_model_requests",
)

#: Metric fields of each endpoint's result, in the order results list them.
METRICS: Final[Mapping[str, tuple[str, ...]]] = {
    "completions": _COMPLETION_METRICS,
    "decisions": _COMPLETION_METRICS,
    "embeddings": ("input_tokens", "num_model_requests"),
    "moderations": ("input_tokens", "num_model_requests"),
    "images": ("images", "num_model_requests"),
    "audio_speeches": ("characters", "num_model_requests"),
    "audio_transcriptions": ("seconds", "num_model_requests"),
    "vector_stores": ("usage_bytes",),
    "code_interpreter_sessions": ("num_sessions",),
    "file_search_calls": ("num_requests",),
    "web_search_calls": ("num_requests", "num_model_requests"),
    # costs: amount (value, currency) and, grouped by line_item, quantity.
    "costs": ("amount", "quantity"),
}


@dataclass(frozen=True, slots=True)
class Stream:
    """One combination of dimensions, with its metrics per unit of channel activity."""

    endpoint: str
    dims: Mapping[str, Any]
    channel: int
    since: int
    coefs: tuple[float, ...]  # aligned with METRICS[endpoint]
    quantity_unit: str | None = None  # costs only


@dataclass(frozen=True, slots=True)
class _Contribution:
    channel: int
    since: int
    coefs: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class _Group:
    template: Mapping[str, Any]
    parts: tuple[_Contribution, ...]
    quantity_unit: str | None


@dataclass(frozen=True, slots=True)
class _Plan:
    groups: tuple[_Group, ...]
    with_quantity: bool


def _ident(rng: random.Random, prefix: str, n: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(n))


class Organization:
    """A deterministic synthetic organization, drawn from ``seed``.

    ``clock`` returns the current Unix time; ``revision`` and ``revision_window_s`` are
    the data-revision knob (see the module docstring). The public attributes
    (``projects``, ``users``, ``api_keys``, ``streams``, ...) let tests compute expected
    values independently.

    :attr:`directory` names those IDs (see :mod:`.directory`), with two gaps on purpose:
    :attr:`deleted_api_key_id` (in usage, listed by no project) and
    :attr:`archived_project_id` (in usage, listed only with ``include_archived=true``).
    ``directory_size=(projects, api_keys)`` grows it with synthetic projects that have
    no usage, for benchmarks; the usage data is the same at any size.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        clock: Callable[[], float],
        revision_window_s: int = 3 * 3600,
        revision_growth_pct: int = 10,
        directory_size: tuple[int, int] | None = None,
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.revision = 0
        self.revision_window_s = revision_window_s
        self.revision_growth_pct = revision_growth_pct
        rng = random.Random(seed)
        self.projects = [_ident(rng, "proj_", 24) for _ in range(5)]
        self.users = [_ident(rng, "user-", 24) for _ in range(8)]
        # Two keys per project, each owned by one user.
        self.api_keys = [_ident(rng, "key_", 16) for _ in range(2 * len(self.projects))]
        self.key_project = {k: self.projects[i // 2] for i, k in enumerate(self.api_keys)}
        self.key_owner = {k: rng.choice(self.users) for k in self.api_keys}
        self.vector_stores = [_ident(rng, "vs_", 24) for _ in range(6)]
        self.streams: dict[str, list[Stream]] = {name: [] for name in ENDPOINTS}
        self._draw_streams(rng)
        # The directory draws from generators of its own: the streams above do not move.
        self.directory: Directory = build_directory(
            seed,
            projects=self.projects,
            users=self.users,
            key_project=self.key_project,
            key_owner=self.key_owner,
            used_keys={
                s.dims["api_key_id"]
                for streams in self.streams.values()
                for s in streams
                if s.dims.get("api_key_id") is not None
            },
            size=directory_size,
        )
        #: A key that usage data carries but no project lists: it was deleted.
        self.deleted_api_key_id: str = self.directory.deleted_api_key_id
        #: A project that usage data carries, listed only with ``include_archived=true``.
        self.archived_project_id: str = self.directory.archived_project_id
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        self._act = lru_cache(maxsize=1 << 18)(self._raw_activity)

    # -- drawing the organization ------------------------------------------------

    def _key_dims(self, rng: random.Random, project: str) -> dict[str, Any]:
        key = rng.choice([k for k in self.api_keys if self.key_project[k] == project])
        return {"project_id": project, "user_id": self.key_owner[key], "api_key_id": key}

    def _add(
        self,
        rng: random.Random,
        endpoint: str,
        dims: dict[str, Any],
        coefs: Sequence[float],
        since: int = 0,
    ) -> None:
        stream = Stream(endpoint, dims, rng.randrange(N_CHANNELS), since, tuple(coefs))
        self.streams[endpoint].append(stream)

    def _draw_streams(self, rng: random.Random) -> None:
        tiers = ("default", "default", "default", "flex", "priority", "scale")
        for endpoint, models in (("completions", _CHAT_MODELS), ("decisions", _CHAT_MODELS[:2])):
            for project in self.projects:
                for model in models:
                    dims = self._key_dims(rng, project)
                    dims |= {
                        "model": model,
                        "batch": rng.random() < 0.2,
                        "service_tier": rng.choice(tiers),
                        "api_source": "agents_api" if rng.random() < 0.25 else "unlabeled",
                    }
                    coefs = _completion_coefs(rng, audio="audio" in model)
                    self._add(rng, endpoint, dims, coefs, _LAUNCHED.get(model, 0))
        for project in self.projects:
            for model in _EMBEDDING_MODELS:
                dims = self._key_dims(rng, project) | {"model": model}
                r = rng.randint(3, 18)
                self._add(rng, "embeddings", dims, (r * rng.randint(50, 900), r))
            dims = self._key_dims(rng, project) | {"model": "omni-moderation-latest"}
            r = rng.randint(3, 12)
            self._add(rng, "moderations", dims, (r * rng.randint(20, 400), r))
            self._add(rng, "vector_stores", {"project_id": project}, (rng.randint(1, 40) << 20,))
            self._add(rng, "code_interpreter_sessions", {"project_id": project}, (1,))
        sizes = ("1024x1024", "1024x1024", "1792x1792", "1024x1792", "512x512")
        sources = ("image.generation", "image.generation", "image.edit", "image.variation")
        for _ in range(6):
            project = rng.choice(self.projects)
            dims = {"source": rng.choice(sources), "size": rng.choice(sizes)}
            dims |= self._key_dims(rng, project) | {
                "model": rng.choice(("dall-e-3", "gpt-image-1"))
            }
            self._add(rng, "images", dims, (1, 1))
        for endpoint, models, unit in (
            ("audio_speeches", ("tts-1", "gpt-4o-mini-tts"), (200, 2000)),
            ("audio_transcriptions", ("whisper-1", "gpt-4o-transcribe"), (5, 240)),
        ):
            for _ in range(6):
                dims = self._key_dims(rng, rng.choice(self.projects))
                dims["model"] = rng.choice(models)
                r = rng.randint(1, 3)
                self._add(rng, endpoint, dims, (r * rng.randint(*unit), r))
        for _ in range(8):
            dims = self._key_dims(rng, rng.choice(self.projects))
            dims["vector_store_id"] = rng.choice(self.vector_stores)
            self._add(rng, "file_search_calls", dims, (rng.randint(1, 5),))
        for _ in range(8):
            dims = self._key_dims(rng, rng.choice(self.projects))
            dims |= {
                "model": rng.choice(_CHAT_MODELS[:4]),
                "context_level": rng.choice(("low", "medium", "medium", "high")),
                "api_source": "agents_api" if rng.random() < 0.4 else "unlabeled",
            }
            n = rng.randint(1, 3)
            self._add(rng, "web_search_calls", dims, (n, n + rng.randint(0, 2)))
        self.streams["costs"] = [c for name in ENDPOINTS for c in self._cost_streams(name)]

    def _cost_streams(self, endpoint: str) -> Iterable[Stream]:
        """Line items derived from one usage endpoint's streams (see PRICES)."""
        metrics = METRICS[endpoint]
        for s in self.streams.get(endpoint, ()) if endpoint != "costs" else ():
            m = dict(zip(metrics, s.coefs, strict=True))
            model = s.dims.get("model")
            items: list[tuple[str, float, float, str | None]] = []  # line item, qty, price, unit
            if endpoint in ("completions", "decisions", "embeddings"):
                p_in, p_cached, p_out = (p / 1e6 for p in TEXT_PRICES[str(model)])
                word = "decision " if endpoint == "decisions" else ""
                uncached = m["input_tokens"] - m.get("input_cached_tokens", 0)
                items.append((f"{model}, {word}input", uncached, p_in, "tokens"))
                if m.get("input_cached_tokens"):
                    cached = m["input_cached_tokens"]
                    items.append((f"{model}, {word}cached input", cached, p_cached, "tokens"))
                if m.get("output_tokens"):
                    items.append((f"{model}, {word}output", m["output_tokens"], p_out, "tokens"))
            elif endpoint == "images":
                items.append((f"{model}, images", m["images"], PRICES[str(model)], "images"))
            elif endpoint == "audio_speeches":
                items.append(
                    (f"{model}, characters", m["characters"], PRICES[str(model)], "characters")
                )
            elif endpoint == "audio_transcriptions":
                seconds = m["seconds"]
                price = PRICES[str(model)]
                items.append((f"{model}, seconds", seconds, price, "duration_seconds"))
            elif endpoint == "vector_stores":
                gib = m["usage_bytes"] / (1 << 30)
                items.append(
                    ("vector store storage", gib, PRICES["vector store storage"], "gibibyte_hours")
                )
            elif endpoint == "code_interpreter_sessions":
                name = "code interpreter sessions"
                items.append((name, m["num_sessions"], PRICES[name], None))
            elif endpoint in ("file_search_calls", "web_search_calls"):
                name = endpoint.replace("_calls", " tool calls").replace("_", " ")
                items.append((name, m["num_requests"], PRICES[name], None))
            for line_item, qty, price, unit in items:
                dims = {
                    "line_item": line_item,
                    "project_id": s.dims["project_id"],
                    "user_id": s.dims.get("user_id"),
                    "api_key_id": s.dims.get("api_key_id"),
                    "api_source": s.dims.get("api_source", "unlabeled"),
                }
                yield Stream("costs", dims, s.channel, s.since, (qty * price, qty), unit)

    # -- activity ------------------------------------------------------------------

    def _raw_activity(self, channel: int, hour: int) -> int:
        day = hour // 24
        hod = hour % 24
        if _hash(self.seed, 1, day) % 41 == 0:  # a quiet day (a holiday)
            return 0
        if hod == 4 and _hash(self.seed, 2, day) % 3 == 0:  # a maintenance hour
            return 0
        shape, peak, weekend = _CHANNELS[channel]
        weight = shape(hod)
        if (day + _EPOCH_WEEKDAY) % 7 >= 5:
            weight *= weekend
        noise = 0.6 + 0.8 * (_hash(self.seed, 3, channel, hour) / _M64)
        return int(peak * weight * noise)

    def activity(self, channel: int, start: int, end: int, *, now: int | None = None) -> int:
        """Units of ``channel`` activity in ``[start, end)``, nothing after ``now``."""
        if now is None:
            now = int(self.clock())
        end = min(end, now)
        if end <= start:
            return 0
        settled_before = now - self.revision_window_s
        growth = self.revision * self.revision_growth_pct
        total = 0
        hour = start // 3600
        while hour * 3600 < end:
            h0 = hour * 3600
            act = self._act(channel, hour)
            if act and growth and h0 + 3600 > settled_before:
                act += -(-act * growth // 100)  # rounded up: any revision grows a busy hour
            if act:
                lo = max(start, h0) - h0
                hi = min(end, h0 + 3600) - h0
                total += act if lo == 0 and hi == 3600 else act * hi // 3600 - act * lo // 3600
            hour += 1
        return total

    # -- answering queries -----------------------------------------------------------

    def _plan(
        self, spec: EndpointSpec, group_by: tuple[str, ...], filters: Mapping[str, Any]
    ) -> _Plan:
        key = (spec.name, group_by, tuple(sorted((k, repr(v)) for k, v in filters.items())))
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        selected = [
            s
            for s in self.streams[spec.name]
            if all(
                s.dims.get(spec.filters[name].field) in _as_set(value)
                for name, value in filters.items()
            )
        ]
        dims = _DIMENSIONS[spec.name]
        by_key: dict[tuple[Any, ...], dict[tuple[int, int], list[Any]]] = {}
        units: dict[tuple[Any, ...], str | None] = {}
        for s in selected:
            gkey = tuple(s.dims.get(f) if f in group_by else None for f in dims)
            parts = by_key.setdefault(gkey, {})
            acc = parts.setdefault((s.channel, s.since), [0] * len(s.coefs))
            for i, c in enumerate(s.coefs):
                acc[i] += c
            units[gkey] = s.quantity_unit
        metrics = METRICS[spec.name]
        groups = []
        for gkey in sorted(by_key, key=lambda k: tuple("" if v is None else str(v) for v in k)):
            if spec.name == "costs":
                template: dict[str, Any] = {"object": spec.result_object, "amount": None}
            else:
                template = {"object": spec.result_object} | dict.fromkeys(metrics, 0)
            template |= dict(zip(dims, gkey, strict=True))
            if spec.name == "costs":
                template |= {"quantity": None, "quantity_unit": None}
            contributions = tuple(
                _Contribution(c, since, tuple(v)) for (c, since), v in sorted(by_key[gkey].items())
            )
            groups.append(_Group(template, contributions, units[gkey]))
        plan = _Plan(tuple(groups), with_quantity="line_item" in group_by)
        if len(self._plans) > 256:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def buckets(
        self,
        spec: EndpointSpec,
        bounds: Sequence[tuple[int, int]],
        group_by: Sequence[str] = (),
        filters: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The bucket objects for ``bounds`` (each ``(start, end)``), as JSON-ready dicts."""
        plan = self._plan(spec, tuple(sorted(set(group_by))), filters or {})
        costs = spec.name == "costs"
        metrics = METRICS[spec.name]
        now = int(self.clock())
        out = []
        for start, end in bounds:
            acts: dict[tuple[int, int], int] = {}
            results = []
            for group in plan.groups:
                values: list[Any] = [0] * len(group.parts[0].coefs)
                for part in group.parts:
                    key = (part.channel, part.since)
                    act = acts.get(key)
                    if act is None:
                        lo = max(start, part.since)
                        act = acts[key] = self.activity(part.channel, lo, end, now=now)
                    if act:
                        for i, c in enumerate(part.coefs):
                            values[i] += c * act
                if not any(values):
                    continue
                result = dict(group.template)
                if costs:
                    result["amount"] = {"value": values[0], "currency": "usd"}
                    if plan.with_quantity:
                        result["quantity"] = values[1]
                        result["quantity_unit"] = group.quantity_unit
                else:
                    result.update(zip(metrics, values, strict=True))
                results.append(result)
            out.append(
                {"object": "bucket", "start_time": start, "end_time": end, "results": results}
            )
        return out


def _as_set(value: Any) -> frozenset[Any]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(value)
    return frozenset((value,))


def _completion_coefs(rng: random.Random, *, audio: bool) -> tuple[int, ...]:
    """Per unit of activity: a few requests, each with a consistent token breakdown."""
    r = rng.randint(3, 12)
    text_u = rng.randint(200, 2400)
    audio_u = rng.randint(50, 400) if audio else 0
    image_u = rng.randint(0, 300) if rng.random() < 0.3 else 0
    cached_text = rng.randint(0, text_u)
    cached_audio = rng.randint(0, audio_u)
    cached_image = rng.randint(0, image_u)
    cw30 = rng.randint(0, 200)
    cw12 = rng.randint(0, 60) if rng.random() < 0.3 else 0
    out_text = rng.randint(40, 900)
    out_audio = rng.randint(20, 300) if audio else 0
    out_image = rng.randint(0, 120) if image_u else 0
    uncached = text_u + audio_u + image_u
    cached = cached_text + cached_audio + cached_image
    cache_write = cw30 + cw12
    per_request = (
        uncached + cached + cache_write,  # input_tokens
        out_text + out_audio + out_image,  # output_tokens
        cached,
        uncached,
        text_u,
        audio_u,
        image_u,
        cached_text,
        cached_audio,
        cached_image,
        cache_write,
        cw30,
        cw12,
        out_text,
        out_audio,
        out_image,
    )
    return (*(r * t for t in per_request), r)
