"""`installations` and `installation_bots`: Bolt's installation store in MongoDB, with Slack tokens encrypted
at rest by `TokenCipher`.

Every save inserts a new document, so both collections keep the history of each workspace and the newest
document wins. Documents are found by `enterprise_id` and `key_team_id`, which is the team id of a workspace
install and None for an org-wide install (Enterprise Grid), because an org-wide install serves every
workspace of its enterprise. So an org-wide install of E1 and a workspace install of (E1, T1) never
overwrite each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import PyMongoError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation

from storage.crypto import KEY_FORMAT_HELP, InvalidKey, TokenCipher, TokenDecryptionError
from storage.database import Database, optional_utc, utc

logger = logging.getLogger(__name__)

INSTALLATIONS = "installations"
BOTS = "installation_bots"

# Fields stored through the cipher. The incoming webhook URL is a credential too: anyone who has it can
# post to its channel.
BOT_SECRET_FIELDS = ("bot_token", "bot_refresh_token")
INSTALLATION_SECRET_FIELDS = (*BOT_SECRET_FIELDS, "user_token", "user_refresh_token", "incoming_webhook_url")

# Bolt's token rotation saves a refreshed copy with the same `installed_at`, so the save time and then the
# insertion order break ties. NOTE: ObjectIds grow with insertion order only within one process, so two
# replicas saving in the same millisecond are ordered arbitrarily.
NEWEST_FIRST = [("installed_at", DESCENDING), ("saved_at", DESCENDING), ("_id", DESCENDING)]
LOOKUP_KEY = [("enterprise_id", ASCENDING), ("key_team_id", ASCENDING)]


class MongoInstallationStore(AsyncInstallationStore):
    """Bolt's installation store over `installations` (one document per save) and `installation_bots`.

    - `async_save` inserts the installation and, when it has a bot token, its bot through `async_save_bot`.
    - `async_find_bot` and `async_find_installation` return the newest match as slack_sdk `Bot` and
      `Installation` objects, or None. With `is_enterprise_install` the team id is ignored. An installation
      stored without a bot token gets the bot fields of the newest bot of its workspace or org.
    - `find_bot_by_team` returns the newest bot with that team id, whatever its enterprise. It does not find
      the bot of an org-wide install stored without a team id.
    - The deletes remove every document of the (enterprise, team) key, only those of one user when a
      `user_id` is given. Their signature has no `is_enterprise_install`, so an org-wide install is deleted
      with `team_id=None`.
    - `rotate_keys` re-encrypts every stored token under the newest key.

    Tokens are encrypted on write and decrypted on read. A stored token that no key decrypts raises
    `TokenDecryptionError`, naming the collection, document and field. Driver errors are logged with the
    enterprise, team and user ids and re-raised.
    """

    def __init__(self, database: Database, *, cipher: TokenCipher, clock: Callable[[], datetime] | None = None) -> None:
        self._installations = database.collection(INSTALLATIONS)
        self._bots = database.collection(BOTS)
        self._cipher = cipher
        self._clock = clock or _utc_now

    @property
    def logger(self) -> logging.Logger:
        return logger

    async def ensure_indexes(self) -> None:
        await self._installations.create_index([*LOOKUP_KEY, *NEWEST_FIRST], name="installation_newest")
        await self._installations.create_index(
            [*LOOKUP_KEY, ("user_id", ASCENDING), *NEWEST_FIRST], name="installation_user_newest"
        )
        await self._bots.create_index([*LOOKUP_KEY, *NEWEST_FIRST], name="bot_newest")
        await self._bots.create_index([("team_id", ASCENDING), *NEWEST_FIRST], name="bot_team_newest")

    async def async_save(self, installation: Installation) -> None:
        document = _installation_document(installation, cipher=self._cipher, saved_at=self._clock())
        ids = _ids(installation.enterprise_id, installation.team_id, installation.user_id)
        with _logged_failure("save installation", ids):
            await self._installations.insert_one(document)
        logger.info("Stored Slack installation (enterprise %s, team %s, user %s)", *ids)
        if installation.bot_token is not None:
            await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        ids = _ids(bot.enterprise_id, bot.team_id)
        if bot.bot_token is None:
            raise ValueError(f"Failed to store bot: the bot token is missing (enterprise {ids[0]}, team {ids[1]})")
        document = _bot_document(bot, cipher=self._cipher, saved_at=self._clock())
        with _logged_failure("save bot", ids):
            await self._bots.insert_one(document)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        query = _lookup(enterprise_id, team_id, is_enterprise_install=bool(is_enterprise_install))
        with _logged_failure("find bot", _ids(enterprise_id, team_id)):
            document = await self._bots.find_one(query, sort=NEWEST_FIRST)
        return self._to_bot(document) if document else None

    async def find_bot_by_team(self, team_id: str) -> Bot | None:
        with _logged_failure("find bot by team", _ids(None, team_id)):
            document = await self._bots.find_one({"team_id": team_id}, sort=NEWEST_FIRST)
        return self._to_bot(document) if document else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        org_wide = bool(is_enterprise_install)
        query = _lookup(enterprise_id, team_id, is_enterprise_install=org_wide)
        if user_id is not None:
            query["user_id"] = user_id
        with _logged_failure("find installation", _ids(enterprise_id, team_id, user_id)):
            document = await self._installations.find_one(query, sort=NEWEST_FIRST)
        if document is None:
            return None

        installation = self._to_installation(document)
        if installation.bot_token is None:
            # A user-scope-only install by a second user has no bot token of its own, but Bolt still needs one.
            bot = await self.async_find_bot(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide
            )
            if bot is not None:
                _copy_bot_fields(bot, installation)
        return installation

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        ids = _ids(enterprise_id, team_id)
        with _logged_failure("delete bot", ids):
            result = await self._bots.delete_many(_lookup(enterprise_id, team_id))
        logger.info("Deleted Slack bots (enterprise %s, team %s, documents %d)", ids[0], ids[1], result.deleted_count)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        query = _lookup(enterprise_id, team_id)
        if user_id is not None:
            query["user_id"] = user_id
        ids = _ids(enterprise_id, team_id, user_id)
        with _logged_failure("delete installation", ids):
            result = await self._installations.delete_many(query)
        logger.info(
            "Deleted Slack installations (enterprise %s, team %s, user %s, documents %d)", *ids, result.deleted_count
        )

    async def rotate_keys(self) -> int:
        """Re-encrypt every stored token under the newest key and return how many documents changed.

        Plaintext tokens from before encryption was enabled are encrypted too. Each document is rewritten
        only if its tokens are still those read, so a concurrent change is never overwritten. Raises
        `InvalidKey` when no key is set, and `TokenDecryptionError` on the first token no key decrypts
        (documents before it stay rotated, so running it again after fixing the keys is safe).
        """
        if not self._cipher.enabled:
            raise InvalidKey(f"No encryption key is set, so tokens cannot be re-encrypted. {KEY_FORMAT_HELP}")
        changed = 0
        for collection_name, fields in ((INSTALLATIONS, INSTALLATION_SECRET_FIELDS), (BOTS, BOT_SECRET_FIELDS)):
            changed += await self._rotate_collection(collection_name, fields)
        logger.info("Re-encrypted stored Slack tokens under the newest key (documents %d)", changed)
        return changed

    async def _rotate_collection(self, collection_name: str, fields: tuple[str, ...]) -> int:
        collection = self._installations if collection_name == INSTALLATIONS else self._bots
        changed = 0
        with _logged_failure(f"rotate keys in {collection_name}", _ids(None, None)):
            async for document in collection.find({}, {field: 1 for field in fields}):
                update = self._rotated_fields(collection_name, document, fields)
                if not update:
                    continue
                unchanged = {field: document.get(field) for field in update}
                result = await collection.update_one({"_id": document["_id"], **unchanged}, {"$set": update})
                changed += result.modified_count
        return changed

    def _rotated_fields(
        self, collection_name: str, document: Mapping[str, Any], fields: tuple[str, ...]
    ) -> dict[str, str]:
        update: dict[str, str] = {}
        for field in fields:
            value = document.get(field)
            try:
                if isinstance(value, str) and self._cipher.needs_rotation(value):
                    update[field] = self._cipher.rotate(value)
            except TokenDecryptionError as error:
                raise error.at(collection=collection_name, document_id=str(document["_id"]), field=field) from None
        return update

    def _decrypt_field(self, collection_name: str, document: Mapping[str, Any], field: str) -> str | None:
        try:
            return self._cipher.decrypt(document.get(field))
        except TokenDecryptionError as error:
            raise error.at(collection=collection_name, document_id=str(document["_id"]), field=field) from None

    def _to_bot(self, document: Mapping[str, Any]) -> Bot:
        bot_token = self._decrypt_field(BOTS, document, "bot_token")
        if bot_token is None:
            raise ValueError(f"Stored bot is missing its bot token (collection {BOTS}, document {document['_id']})")
        return Bot(
            app_id=document.get("app_id"),
            enterprise_id=document.get("enterprise_id"),
            enterprise_name=document.get("enterprise_name"),
            team_id=document.get("team_id"),
            team_name=document.get("team_name"),
            bot_token=bot_token,
            bot_id=document["bot_id"],
            bot_user_id=document["bot_user_id"],
            bot_scopes=list(document.get("bot_scopes") or []),
            bot_refresh_token=self._decrypt_field(BOTS, document, "bot_refresh_token"),
            bot_token_expires_at=optional_utc(document.get("bot_token_expires_at")),
            is_enterprise_install=bool(document.get("is_enterprise_install")),
            installed_at=utc(document["installed_at"]),
            custom_values=dict(document.get("custom_values") or {}),
        )

    def _to_installation(self, document: Mapping[str, Any]) -> Installation:
        def secret(field: str) -> str | None:
            return self._decrypt_field(INSTALLATIONS, document, field)

        return Installation(
            app_id=document.get("app_id"),
            enterprise_id=document.get("enterprise_id"),
            enterprise_name=document.get("enterprise_name"),
            enterprise_url=document.get("enterprise_url"),
            team_id=document.get("team_id"),
            team_name=document.get("team_name"),
            bot_token=secret("bot_token"),
            bot_id=document.get("bot_id"),
            bot_user_id=document.get("bot_user_id"),
            bot_scopes=list(document.get("bot_scopes") or []),
            bot_refresh_token=secret("bot_refresh_token"),
            bot_token_expires_at=optional_utc(document.get("bot_token_expires_at")),
            user_id=document["user_id"],
            user_token=secret("user_token"),
            user_scopes=list(document.get("user_scopes") or []),
            user_refresh_token=secret("user_refresh_token"),
            user_token_expires_at=optional_utc(document.get("user_token_expires_at")),
            incoming_webhook_url=secret("incoming_webhook_url"),
            incoming_webhook_channel=document.get("incoming_webhook_channel"),
            incoming_webhook_channel_id=document.get("incoming_webhook_channel_id"),
            incoming_webhook_configuration_url=document.get("incoming_webhook_configuration_url"),
            is_enterprise_install=bool(document.get("is_enterprise_install")),
            token_type=document.get("token_type"),
            installed_at=utc(document["installed_at"]),
            custom_values=dict(document.get("custom_values") or {}),
        )


def _lookup(enterprise_id: str | None, team_id: str | None, *, is_enterprise_install: bool = False) -> dict[str, Any]:
    return {"enterprise_id": enterprise_id, "key_team_id": None if is_enterprise_install else team_id}


def _bot_document(bot: Bot, *, cipher: TokenCipher, saved_at: datetime) -> dict[str, Any]:
    return {
        **_lookup(bot.enterprise_id, bot.team_id, is_enterprise_install=bot.is_enterprise_install),
        "team_id": bot.team_id,
        "is_enterprise_install": bot.is_enterprise_install,
        "app_id": bot.app_id,
        "enterprise_name": bot.enterprise_name,
        "team_name": bot.team_name,
        "bot_token": cipher.encrypt(bot.bot_token),
        "bot_id": bot.bot_id,
        "bot_user_id": bot.bot_user_id,
        "bot_scopes": list(bot.bot_scopes or []),
        "bot_refresh_token": cipher.encrypt(bot.bot_refresh_token),
        "bot_token_expires_at": _from_unix(bot.bot_token_expires_at),
        "installed_at": datetime.fromtimestamp(bot.installed_at, tz=UTC),
        "custom_values": dict(bot.custom_values),
        "saved_at": saved_at,
    }


def _installation_document(installation: Installation, *, cipher: TokenCipher, saved_at: datetime) -> dict[str, Any]:
    org_wide = installation.is_enterprise_install
    return {
        **_lookup(installation.enterprise_id, installation.team_id, is_enterprise_install=org_wide),
        "team_id": installation.team_id,
        "user_id": installation.user_id,
        "is_enterprise_install": org_wide,
        "app_id": installation.app_id,
        "enterprise_name": installation.enterprise_name,
        "enterprise_url": installation.enterprise_url,
        "team_name": installation.team_name,
        "bot_token": cipher.encrypt(installation.bot_token),
        "bot_id": installation.bot_id,
        "bot_user_id": installation.bot_user_id,
        "bot_scopes": list(installation.bot_scopes or []),
        "bot_refresh_token": cipher.encrypt(installation.bot_refresh_token),
        "bot_token_expires_at": _from_unix(installation.bot_token_expires_at),
        "user_token": cipher.encrypt(installation.user_token),
        "user_scopes": list(installation.user_scopes or []),
        "user_refresh_token": cipher.encrypt(installation.user_refresh_token),
        "user_token_expires_at": _from_unix(installation.user_token_expires_at),
        "incoming_webhook_url": cipher.encrypt(installation.incoming_webhook_url),
        "incoming_webhook_channel": installation.incoming_webhook_channel,
        "incoming_webhook_channel_id": installation.incoming_webhook_channel_id,
        "incoming_webhook_configuration_url": installation.incoming_webhook_configuration_url,
        "token_type": installation.token_type,
        "installed_at": datetime.fromtimestamp(installation.installed_at, tz=UTC),
        "custom_values": dict(installation.custom_values),
        "saved_at": saved_at,
    }


def _copy_bot_fields(bot: Bot, installation: Installation) -> None:
    installation.bot_token = bot.bot_token
    installation.bot_id = bot.bot_id
    installation.bot_user_id = bot.bot_user_id
    installation.bot_scopes = bot.bot_scopes
    installation.bot_refresh_token = bot.bot_refresh_token
    installation.bot_token_expires_at = bot.bot_token_expires_at


def _from_unix(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ids(enterprise_id: str | None, team_id: str | None, user_id: str | None = None) -> tuple[str, str, str]:
    return (enterprise_id or "-", team_id or "-", user_id or "-")


@contextmanager
def _logged_failure(operation: str, ids: tuple[str, str, str]) -> Iterator[None]:
    try:
        yield
    except PyMongoError as error:
        # Log only the error type, because a driver message can quote document values.
        logger.error(
            "Installation store failed (operation %s, enterprise %s, team %s, user %s, error %s)",
            operation,
            *ids,
            type(error).__name__,
        )
        raise
