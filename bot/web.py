"""The aiohttp application: Slack's request URL, the platform endpoint and the health checks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow

from bot.ingest import EventIngest, error_response
from bot.openapi import OPENAPI_PATH, build_openapi

logger = logging.getLogger(__name__)

OAUTH_NOT_CONFIGURED = (
    "Installing from a link needs OAuth mode: set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_REDIRECT_URI."
)
SLACK_NOT_CONFIGURED = (
    "Slack is not configured, so the bot runs in local mode: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET "
    "(one workspace) to receive Slack requests."
)


def create_web_app(
    *,
    ingest: EventIngest,
    bolt_app: AsyncApp | None,
    ready: Callable[[], Awaitable[bool]],
    oauth_flow: AsyncOAuthFlow | None = None,
    metrics: Callable[[web.Request], Awaitable[web.Response]] | None = None,
) -> web.Application:
    async def slack_events(request: web.Request) -> web.Response:
        if bolt_app is None:
            return error_response(503, SLACK_NOT_CONFIGURED)
        bolt_response = await bolt_app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        if await ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "unavailable", "error": "MongoDB does not answer."}, status=503)

    async def install(request: web.Request) -> web.Response:
        if oauth_flow is None:
            return error_response(404, OAUTH_NOT_CONFIGURED)
        return await to_aiohttp_response(await oauth_flow.handle_installation(await to_bolt_request(request)))

    async def oauth_redirect(request: web.Request) -> web.Response:
        if oauth_flow is None:
            return error_response(404, OAUTH_NOT_CONFIGURED)
        return await to_aiohttp_response(await oauth_flow.handle_callback(await to_bolt_request(request)))

    openapi_document = build_openapi()

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(openapi_document)

    app = web.Application()
    app.router.add_get("/slack/install", install)
    app.router.add_get("/slack/oauth_redirect", oauth_redirect)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_post("/platform/events", ingest.handle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get(OPENAPI_PATH, openapi)
    if metrics is not None:
        app.router.add_get("/metrics", metrics)
    return app
