"""``openai-usage serve``: the store kept current, served to Prometheus, a browser and web apps.

::

    from aiohttp import web

    from openai_usage_async import AsyncUsageClient
    from openai_usage_async.serve import create_app
    from openai_usage_async.store import open_store

    async def make_app() -> web.Application:
        client, store = AsyncUsageClient(), open_store("usage.db")

        async def lifespan(app: web.Application):
            async with client, store:
                yield

        app = web.Application()
        app.cleanup_ctx.append(lifespan)
        app.add_subapp("/usage/", create_app(client, store, every=300))
        return app

:func:`create_app` returns an ``aiohttp.web.Application`` whose lifespan syncs the store
(one sync at a time, with backoff when the API keeps failing) and, after each sync,
renders once what it serves: ``/metrics`` (Prometheus), ``/`` (a dashboard),
``/api/summary`` (JSON), ``/healthz`` and ``/livez``. A request never reads the store
and never sends a request upstream. The command line's ``openai-usage serve`` runs the
same app. Needs the ``serve`` extra (``prometheus_client``). See
``docs/guides/monitoring.md``.
"""

from ._app import create_app as create_app

__all__ = ["create_app"]
