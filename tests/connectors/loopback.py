"""A catch-all aiohttp server on an ephemeral 127.0.0.1 port, for the scripted venues and proxies of the tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web


async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> tuple[web.AppRunner, str]:
    """Start answering every method and path with ``handler``; returns the runner (``cleanup()`` stops it) and the
    base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"
