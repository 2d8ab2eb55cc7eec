"""Where messages go: Slack's Web API, or standard output in local mode."""

from __future__ import annotations

import itertools
import logging
import sys
from typing import Protocol, TextIO

from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
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
    async def post(self, *, team_id: str, channel: str, message: SlackMessage, thread_ts: str | None = None) -> str:
        """Post a message (in a thread when `thread_ts` is given) and return its `ts`.

        Raises slack_sdk's `SlackApiError` when Slack rejects it.
        """
        ...

    async def update(self, *, team_id: str, channel: str, ts: str, message: SlackMessage) -> None:
        """Replace the text and blocks of a message the bot posted (`chat.update`).

        Raises slack_sdk's `SlackApiError` when Slack rejects it.
        """
        ...

    async def upload_file(
        self, *, team_id: str, channel: str, filename: str, title: str, content: bytes, thread_ts: str | None
    ) -> None:
        """Share a file in a channel through Slack's external upload flow."""
        ...


class SlackPoster:
    def __init__(self, *, client: AsyncWebClient, tokens: TokenSource) -> None:
        self._client = client
        self._tokens = tokens

    async def post(self, *, team_id: str, channel: str, message: SlackMessage, thread_ts: str | None = None) -> str:
        response = await self._client.chat_postMessage(
            token=await self._token(team_id),
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["ts"])

    async def update(self, *, team_id: str, channel: str, ts: str, message: SlackMessage) -> None:
        # chat.update rejects `text` over 4,000 characters (msg_too_long); SlackMessage text stays below that.
        await self._client.chat_update(
            token=await self._token(team_id), channel=channel, ts=ts, text=message.text, blocks=message.blocks
        )

    async def upload_file(
        self, *, team_id: str, channel: str, filename: str, title: str, content: bytes, thread_ts: str | None
    ) -> None:
        # files_upload_v2 runs files.getUploadURLExternal, the upload, then files.completeUploadExternal.
        await self._client.files_upload_v2(
            token=await self._token(team_id),
            channel=channel,
            filename=filename,
            title=title,
            content=content,
            thread_ts=thread_ts,
        )

    async def _token(self, team_id: str) -> str:
        token = await self._tokens.bot_token(team_id)
        if token is None:
            raise NoTokenError(f"no bot token for workspace {team_id}")
        return token


class ConsolePoster:
    """Local mode: print each message (readable text, then its Block Kit JSON) instead of posting it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._counter = itertools.count(1)

    async def post(self, *, team_id: str, channel: str, message: SlackMessage, thread_ts: str | None = None) -> str:
        stream = self._stream or sys.stdout
        where = f"{channel}, in the thread of {thread_ts}" if thread_ts else channel
        stream.write(render_console(message, channel=where, team_id=team_id) + "\n")
        stream.flush()
        return f"local.{next(self._counter):06d}"

    async def update(self, *, team_id: str, channel: str, ts: str, message: SlackMessage) -> None:
        stream = self._stream or sys.stdout
        stream.write(render_console(message, channel=f"{channel}, update of {ts}", team_id=team_id) + "\n")
        stream.flush()

    async def upload_file(
        self, *, team_id: str, channel: str, filename: str, title: str, content: bytes, thread_ts: str | None
    ) -> None:
        stream = self._stream or sys.stdout
        stream.write(
            f"=== File {filename} ({title}, {len(content)} bytes) to channel {channel} in team {team_id} ===\n"
        )
        stream.flush()


class InstallationTokens:
    """OAuth mode: each workspace's bot token from the installation store, refreshed before it expires.

    `team_id` is the project's workspace key: a team id, or an enterprise id for an org-wide install.
    """

    # Bolt refreshes tokens this long before expiry on incoming requests; delivery does the same.
    REFRESH_MINUTES_BEFORE_EXPIRY = 120

    def __init__(self, *, store: BotStore, rotator: AsyncTokenRotator | None) -> None:
        self._store = store
        self._rotator = rotator

    async def bot_token(self, team_id: str) -> str | None:
        if team_id.startswith("E"):
            bot = await self._store.async_find_bot(enterprise_id=team_id, team_id=None, is_enterprise_install=True)
        else:
            bot = await self._store.find_bot_by_team(team_id)
        if bot is None:
            return None
        if self._rotator is not None and bot.bot_refresh_token:
            refreshed = await self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=self.REFRESH_MINUTES_BEFORE_EXPIRY
            )
            if refreshed is not None:
                await self._store.async_save_bot(refreshed)
                logger.info("Bot token refreshed (team %s)", team_id)
                bot = refreshed
        return bot.bot_token


class BotStore(Protocol):
    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None: ...

    async def find_bot_by_team(self, team_id: str) -> Bot | None: ...

    async def async_save_bot(self, bot: Bot) -> None: ...
