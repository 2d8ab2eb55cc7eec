"""MongoInstallationStore against the in-memory store: Bolt's contract, Enterprise Grid keys, encryption."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation

from storage.crypto import InvalidKey, TokenCipher, TokenDecryptionError
from storage.database import Database, utc
from storage.installations import BOTS, INSTALLATIONS, MongoInstallationStore
from tests.conftest import FakeClock

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
INSTALLED_AT = 1_795_000_000.0
TOKENS = {
    "bot_token": "xoxb-plain-bot-token",
    "bot_refresh_token": "xoxe-1-plain-bot-refresh",
    "user_token": "xoxp-plain-user-token",
    "user_refresh_token": "xoxe-1-plain-user-refresh",
    "incoming_webhook_url": "https://hooks.slack.com/services/T1/B1/plainwebhooksecret",
}


def make_installation(
    *,
    enterprise_id: str | None = None,
    team_id: str | None = "T1",
    user_id: str = "U1",
    installed_at: float = INSTALLED_AT,
    bot_token: str | None = "xoxb-plain-bot-token",
    is_enterprise_install: bool = False,
    **fields: Any,
) -> Installation:
    bot_fields: dict[str, Any] = {"bot_id": "B1", "bot_user_id": "UBOT", "bot_scopes": "chat:write,channels:read"}
    return Installation(
        app_id="A1",
        enterprise_id=enterprise_id,
        team_id=team_id,
        team_name="Acme",
        user_id=user_id,
        installed_at=installed_at,
        bot_token=bot_token,
        is_enterprise_install=is_enterprise_install,
        **({**bot_fields, **fields} if bot_token else fields),
    )


def make_full_installation() -> Installation:
    """An installation with every field set, including rotation fields, user tokens and custom values."""
    return Installation(
        app_id="A1",
        enterprise_id="E1",
        enterprise_name="Acme Group",
        enterprise_url="https://acme.enterprise.slack.com/",
        team_id="T1",
        team_name="Acme",
        bot_token=TOKENS["bot_token"],
        bot_id="B1",
        bot_user_id="UBOT",
        bot_scopes=["chat:write", "channels:read"],
        bot_refresh_token=TOKENS["bot_refresh_token"],
        bot_token_expires_at=1_795_043_200,
        user_id="U1",
        user_token=TOKENS["user_token"],
        user_scopes=["search:read"],
        user_refresh_token=TOKENS["user_refresh_token"],
        user_token_expires_at=1_795_043_300,
        incoming_webhook_url=TOKENS["incoming_webhook_url"],
        incoming_webhook_channel="#alerts",
        incoming_webhook_channel_id="C1",
        incoming_webhook_configuration_url="https://acme.slack.com/services/B1",
        is_enterprise_install=False,
        token_type="bot",
        installed_at=INSTALLED_AT,
        custom_values={"agency_id": "ag-acme", "client_id": "cl-alpha", "mc_user_id": "mc-42"},
    )


def make_store(
    database: Database, keys: list[str] | None = None, clock: FakeClock | None = None
) -> MongoInstallationStore:
    return MongoInstallationStore(
        database, cipher=TokenCipher(keys or []), clock=clock.now if clock is not None else None
    )


@pytest.fixture
async def store(database: Database, clock: FakeClock) -> MongoInstallationStore:
    installations = make_store(database, [KEY_A], clock)
    await installations.ensure_indexes()
    return installations


async def raw_documents(database: Database, collection: str) -> list[dict[str, Any]]:
    return [document async for document in database.collection(collection).find({})]


def string_values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from string_values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from string_values(item)


# Round trips


async def test_installation_round_trip(store: MongoInstallationStore) -> None:
    original = make_full_installation()

    await store.async_save(original)
    found = await store.async_find_installation(enterprise_id="E1", team_id="T1")

    assert isinstance(found, Installation)
    assert found.to_dict_for_copying() == original.to_dict_for_copying()


async def test_bot_round_trip(store: MongoInstallationStore) -> None:
    original = make_full_installation()

    await store.async_save(original)
    bot = await store.async_find_bot(enterprise_id="E1", team_id="T1")

    assert isinstance(bot, Bot)
    assert bot.to_dict_for_copying() == original.to_bot().to_dict_for_copying()
    assert bot.get_custom_value("agency_id") == "ag-acme"


async def test_save_bot_directly(store: MongoInstallationStore) -> None:
    refreshed = make_full_installation().to_bot()
    refreshed.bot_token = "xoxb-refreshed"

    await store.async_save_bot(refreshed)

    bot = await store.async_find_bot(enterprise_id="E1", team_id="T1")
    assert bot is not None
    assert bot.bot_token == "xoxb-refreshed"


async def test_save_without_bot_token_stores_no_bot(store: MongoInstallationStore, database: Database) -> None:
    await store.async_save(make_installation(bot_token=None, user_token="xoxp-only-user"))

    assert await raw_documents(database, BOTS) == []
    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is None


async def test_save_bot_without_token_raises(store: MongoInstallationStore) -> None:
    bot = make_installation(bot_token=None).to_bot()

    with pytest.raises(ValueError, match="bot token is missing"):
        await store.async_save_bot(bot)


async def test_unknown_workspace_finds_nothing(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(team_id="T1"))

    assert await store.async_find_installation(enterprise_id=None, team_id="T9") is None
    assert await store.async_find_bot(enterprise_id=None, team_id="T9") is None
    assert await store.async_find_installation(enterprise_id="E1", team_id="T1") is None


# Newest wins


async def test_newest_installed_at_wins(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(installed_at=INSTALLED_AT + 60, bot_token="xoxb-newer"))
    await store.async_save(make_installation(installed_at=INSTALLED_AT, bot_token="xoxb-older"))

    installation = await store.async_find_installation(enterprise_id=None, team_id="T1")
    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")

    assert installation is not None
    assert installation.bot_token == "xoxb-newer"
    assert bot is not None
    assert bot.bot_token == "xoxb-newer"


async def test_refreshed_copy_with_same_installed_at_wins(store: MongoInstallationStore, clock: FakeClock) -> None:
    original = make_installation(bot_refresh_token="xoxe-1-first")
    await store.async_save(original)
    refreshed = Installation(**original.to_dict_for_copying())
    refreshed.bot_token = "xoxb-rotated"
    refreshed.bot_refresh_token = "xoxe-1-second"
    clock.advance(hours=11)

    await store.async_save(refreshed)

    installation = await store.async_find_installation(enterprise_id=None, team_id="T1")
    assert installation is not None
    assert installation.bot_token == "xoxb-rotated"
    assert installation.bot_refresh_token == "xoxe-1-second"


async def test_same_instant_saves_keep_insertion_order(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(bot_token="xoxb-first"))
    await store.async_save(make_installation(bot_token="xoxb-second"))

    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")

    assert bot is not None
    assert bot.bot_token == "xoxb-second"


# Users and the bot token fallback


async def test_find_installation_of_user(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(user_id="U1", user_token="xoxp-u1"))
    await store.async_save(make_installation(user_id="U2", user_token="xoxp-u2", installed_at=INSTALLED_AT + 60))

    first = await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U1")
    latest = await store.async_find_installation(enterprise_id=None, team_id="T1")
    unknown = await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U3")

    assert first is not None
    assert first.user_token == "xoxp-u1"
    assert latest is not None
    assert latest.user_id == "U2"
    assert unknown is None


async def test_missing_bot_token_filled_from_newest_bot(store: MongoInstallationStore) -> None:
    await store.async_save(
        make_installation(user_id="U1", bot_refresh_token="xoxe-1-bot", bot_token_expires_at=1_795_043_200)
    )
    await store.async_save(
        make_installation(user_id="U2", bot_token=None, user_token="xoxp-u2", installed_at=INSTALLED_AT + 60)
    )

    installation = await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U2")

    assert installation is not None
    assert installation.user_token == "xoxp-u2"
    assert installation.bot_token == "xoxb-plain-bot-token"
    assert installation.bot_id == "B1"
    assert installation.bot_user_id == "UBOT"
    assert installation.bot_scopes == ["chat:write", "channels:read"]
    assert installation.bot_refresh_token == "xoxe-1-bot"
    assert installation.bot_token_expires_at == 1_795_043_200


async def test_missing_bot_token_stays_none_without_bot(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(bot_token=None, user_token="xoxp-u1"))

    installation = await store.async_find_installation(enterprise_id=None, team_id="T1")

    assert installation is not None
    assert installation.bot_token is None


# Deletes


async def test_delete_bot(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(team_id="T1"))
    await store.async_save(make_installation(team_id="T2"))

    await store.async_delete_bot(enterprise_id=None, team_id="T1")

    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is None
    assert await store.async_find_bot(enterprise_id=None, team_id="T2") is not None
    assert await store.async_find_installation(enterprise_id=None, team_id="T1") is not None


async def test_delete_installation_of_one_user(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(user_id="U1"))
    await store.async_save(make_installation(user_id="U2"))

    await store.async_delete_installation(enterprise_id=None, team_id="T1", user_id="U1")

    assert await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U1") is None
    assert await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U2") is not None


async def test_delete_all(store: MongoInstallationStore, database: Database) -> None:
    await store.async_save(make_installation(user_id="U1"))
    await store.async_save(make_installation(user_id="U2"))
    await store.async_save(make_installation(team_id="T2"))

    await store.async_delete_all(enterprise_id=None, team_id="T1")

    assert await store.async_find_installation(enterprise_id=None, team_id="T1") is None
    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is None
    assert len(await raw_documents(database, INSTALLATIONS)) == 1
    assert len(await raw_documents(database, BOTS)) == 1


# Enterprise Grid


async def test_org_wide_and_workspace_installs_do_not_collide(store: MongoInstallationStore) -> None:
    await store.async_save(
        make_installation(enterprise_id="E1", team_id=None, is_enterprise_install=True, bot_token="xoxb-org")
    )
    await store.async_save(make_installation(enterprise_id="E1", team_id="T1", bot_token="xoxb-workspace"))

    workspace = await store.async_find_installation(enterprise_id="E1", team_id="T1")
    org = await store.async_find_installation(enterprise_id="E1", team_id="T7", is_enterprise_install=True)
    workspace_bot = await store.async_find_bot(enterprise_id="E1", team_id="T1")
    org_bot = await store.async_find_bot(enterprise_id="E1", team_id="T1", is_enterprise_install=True)

    assert workspace is not None
    assert workspace.bot_token == "xoxb-workspace"
    assert org is not None
    assert org.bot_token == "xoxb-org"
    assert org.is_enterprise_install is True
    assert workspace_bot is not None
    assert workspace_bot.bot_token == "xoxb-workspace"
    assert org_bot is not None
    assert org_bot.bot_token == "xoxb-org"


async def test_org_wide_install_ignores_team_id(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(enterprise_id="E1", team_id="T1", is_enterprise_install=True))

    found = await store.async_find_installation(enterprise_id="E1", team_id="T2", is_enterprise_install=True)

    assert found is not None
    assert found.team_id == "T1"


async def test_deleting_workspace_keeps_org_wide_install(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(enterprise_id="E1", team_id=None, is_enterprise_install=True))
    await store.async_save(make_installation(enterprise_id="E1", team_id="T1"))

    await store.async_delete_all(enterprise_id="E1", team_id="T1")

    assert await store.async_find_installation(enterprise_id="E1", team_id="T1") is None
    assert await store.async_find_bot(enterprise_id="E1", team_id=None, is_enterprise_install=True) is not None

    await store.async_delete_all(enterprise_id="E1", team_id=None)

    assert await store.async_find_bot(enterprise_id="E1", team_id=None, is_enterprise_install=True) is None


async def test_same_team_in_other_enterprise_is_separate(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(enterprise_id="E1", team_id="T1", bot_token="xoxb-e1"))
    await store.async_save(make_installation(enterprise_id="E2", team_id="T1", bot_token="xoxb-e2"))

    bot = await store.async_find_bot(enterprise_id="E1", team_id="T1")

    assert bot is not None
    assert bot.bot_token == "xoxb-e1"


async def test_find_bot_by_team_ignores_enterprise(store: MongoInstallationStore) -> None:
    await store.async_save(make_installation(enterprise_id="E1", team_id="T1", bot_token="xoxb-older"))
    await store.async_save(
        make_installation(enterprise_id="E2", team_id="T1", bot_token="xoxb-newer", installed_at=INSTALLED_AT + 60)
    )
    await store.async_save(make_installation(enterprise_id="E1", team_id=None, is_enterprise_install=True))

    bot = await store.find_bot_by_team("T1")

    assert bot is not None
    assert bot.bot_token == "xoxb-newer"
    assert bot.enterprise_id == "E2"
    assert await store.find_bot_by_team("T9") is None


# Encryption at rest


async def test_raw_documents_hold_no_plaintext_token(store: MongoInstallationStore, database: Database) -> None:
    await store.async_save(make_full_installation())
    documents = await raw_documents(database, INSTALLATIONS) + await raw_documents(database, BOTS)
    stored_strings = [value for document in documents for value in string_values(document)]

    assert len(documents) == 2
    for name, token in TOKENS.items():
        leaks = [value for value in stored_strings if token in value]
        assert leaks == [], f"{name} is stored in plaintext"


async def test_wrong_key_error_names_document(database: Database) -> None:
    await make_store(database, [KEY_A]).async_save(make_full_installation())
    document_id = str((await raw_documents(database, INSTALLATIONS))[0]["_id"])

    with pytest.raises(TokenDecryptionError) as caught:
        await make_store(database, [KEY_B]).async_find_installation(enterprise_id="E1", team_id="T1")

    message = str(caught.value)
    assert f"collection {INSTALLATIONS}" in message
    assert f"document {document_id}" in message
    assert "field bot_token" in message
    assert all(token not in message for token in TOKENS.values())


async def test_wrong_key_error_on_bot(database: Database) -> None:
    await make_store(database, [KEY_A]).async_save(make_full_installation())

    with pytest.raises(TokenDecryptionError, match=f"collection {BOTS}"):
        await make_store(database, [KEY_B]).async_find_bot(enterprise_id="E1", team_id="T1")


async def test_encrypted_data_without_key_raises(database: Database) -> None:
    await make_store(database, [KEY_A]).async_save(make_full_installation())

    with pytest.raises(TokenDecryptionError, match="MISSIONCONTROL_ENCRYPTION_KEY is not set"):
        await make_store(database).async_find_installation(enterprise_id="E1", team_id="T1")


async def test_key_rotation(database: Database) -> None:
    original = make_full_installation()
    await make_store(database, [KEY_A]).async_save(original)
    both_keys = make_store(database, [KEY_B, KEY_A])

    before = await both_keys.async_find_installation(enterprise_id="E1", team_id="T1")
    changed = await both_keys.rotate_keys()
    changed_again = await both_keys.rotate_keys()
    after = await make_store(database, [KEY_B]).async_find_installation(enterprise_id="E1", team_id="T1")
    bot_after = await make_store(database, [KEY_B]).async_find_bot(enterprise_id="E1", team_id="T1")

    assert before is not None
    assert before.to_dict_for_copying() == original.to_dict_for_copying()
    assert changed == 2
    assert changed_again == 0
    assert after is not None
    assert after.to_dict_for_copying() == original.to_dict_for_copying()
    assert bot_after is not None
    assert bot_after.bot_refresh_token == TOKENS["bot_refresh_token"]
    with pytest.raises(TokenDecryptionError):
        await make_store(database, [KEY_A]).async_find_installation(enterprise_id="E1", team_id="T1")


async def test_plaintext_from_before_encryption(database: Database) -> None:
    original = make_full_installation()
    await make_store(database).async_save(original)
    encrypted_store = make_store(database, [KEY_A])

    before = await encrypted_store.async_find_installation(enterprise_id="E1", team_id="T1")
    changed = await encrypted_store.rotate_keys()
    documents = await raw_documents(database, INSTALLATIONS) + await raw_documents(database, BOTS)
    stored_strings = [value for document in documents for value in string_values(document)]
    after = await make_store(database, [KEY_A]).async_find_installation(enterprise_id="E1", team_id="T1")

    assert before is not None
    assert before.to_dict_for_copying() == original.to_dict_for_copying()
    assert changed == 2
    assert all(token not in value for token in TOKENS.values() for value in stored_strings)
    assert after is not None
    assert after.to_dict_for_copying() == original.to_dict_for_copying()


async def test_rotate_keys_without_key_raises(database: Database) -> None:
    await make_store(database).async_save(make_installation())

    with pytest.raises(InvalidKey, match="No encryption key is set"):
        await make_store(database).rotate_keys()


async def test_rotate_keys_stops_at_unknown_key(database: Database) -> None:
    await make_store(database, [KEY_A]).async_save(make_installation())

    with pytest.raises(TokenDecryptionError, match=f"collection {INSTALLATIONS}"):
        await make_store(database, [KEY_B]).rotate_keys()


# Indexes and timestamps


async def test_ensure_indexes(store: MongoInstallationStore, database: Database) -> None:
    installation_indexes = await database.index_names(INSTALLATIONS)
    bot_indexes = await database.index_names(BOTS)

    assert {"installation_newest", "installation_user_newest"} <= installation_indexes
    assert {"bot_newest", "bot_team_newest"} <= bot_indexes


async def test_saved_at_comes_from_clock(store: MongoInstallationStore, database: Database, clock: FakeClock) -> None:
    clock.advance(minutes=5)

    await store.async_save(make_installation())

    document = (await raw_documents(database, INSTALLATIONS))[0]
    assert utc(document["saved_at"]) == clock.now()
