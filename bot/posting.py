"""Where messages go: Slack's Web API, or standard output in local mode."""

from __future__ import annotations

import itertools
import logging
import sys
from typing import Protocol, TextIO

from slack_sdk.web.async_client import AsyncWebClient

from views.console import render_console
from views.messages import SlackMessage

logger = logging.getLogger(__name__)


class TokenSource(Protocol):
    async def bot_token(self, team_id: str) -> str | None:
        """Return the bot token of a workspace, or None when the app is not installed there."""
        ...


class SingleWorkspaceTokens:
    """Single-workspace mode: one token, for the team that `auth.test` names at start (`team_id`).

    Until the team is known, and for any other team, there is no token, so a rule seeded for another
    workspace can never post into this one.
    """

    def __init__(self, token: str) -> None:
        self._token = token
        self.team_id: str | None = None

    async def bot_token(self, team_id: str) -> str | None:
        return self._token if team_id == self.team_id else None


class NoTokenError(Exception):
    """The app has no token for the workspace."""


class Poster(Protocol):
    async def post(self, *, team_id: str, channel: str, message: SlackMessage) -> str:
        """Post a message and return its `ts`; raise slack_sdk's `SlackApiError` when Slack rejects it."""
        ...


class SlackPoster:
    def __init__(self, *, client: AsyncWebClient, tokens: TokenSource) -> None:
        self._client = client
        self._tokens = tokens

    async def post(self, *, team_id: str, channel: str, message: SlackMessage) -> str:
        token = await self._tokens.bot_token(team_id)
        if token is None:
            raise NoTokenError(f"no bot token for workspace {team_id}")
        response = await self._client.chat_postMessage(
            token=token,
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])


class ConsolePoster:
    """Local mode: print each message (readable text, then its Block Kit JSON) instead of posting it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._counter = itertools.count(1)

    async def post(self, *, team_id: str, channel: str, message: SlackMessage) -> str:
        stream = self._stream or sys.stdout
        stream.write(render_console(message, channel=channel, team_id=team_id) + "\n")
        stream.flush()
        return f"local.{next(self._counter):06d}"
