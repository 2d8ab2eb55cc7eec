"""`missioncontrol grant` and `missioncontrol rotate-key`: operator tools for OAuth installs."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO

from bot.cli_storage import connect
from bot.grants import MAX_TTL, issue_grant
from bot.settings import Settings
from storage.crypto import InvalidKey, TokenCipher
from storage.database import Database
from storage.installations import MongoInstallationStore

TTL_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_ttl(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not match:
        raise ValueError(f"--ttl {text} is not a duration: use a number and s, m, h or d, such as 1h")
    ttl = timedelta(**{TTL_UNITS[match[2]]: int(match[1])})
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"--ttl {text} must be more than 0 and at most {MAX_TTL.days}d")
    return ttl


def print_grant(
    settings: Settings, *, agency: str, client: str | None, user: str | None, ttl: str, stdout: TextIO | None = None
) -> int:
    if not settings.install_secrets:
        print(
            "missioncontrol: MISSIONCONTROL_INSTALL_SECRET is not set: set it to sign install grants.", file=sys.stderr
        )
        return 2
    try:
        lifetime = parse_ttl(ttl)
    except ValueError as error:
        print(f"missioncontrol: {error}.", file=sys.stderr)
        return 2
    try:
        token = issue_grant(
            secret=settings.install_secrets[0],
            agency_id=agency,
            client_id=client,
            user_id=user,
            ttl=lifetime,
            now=datetime.now(UTC),
        )
    except ValueError as error:
        print(f"missioncontrol: {error}.", file=sys.stderr)
        return 2
    (stdout or sys.stdout).write(token + "\n")
    return 0


async def rotate_key(settings: Settings, *, database: Database | None = None, stdout: TextIO | None = None) -> int:
    """Re-encrypt stored tokens under the newest key; `database` replaces MONGODB_URI's (tests)."""
    if database is None and settings.mongodb_uri is None:
        print("missioncontrol: MONGODB_URI is not set: rotate-key works on the tokens there.", file=sys.stderr)
        return 2
    if not settings.encryption_keys:
        print("missioncontrol: MISSIONCONTROL_ENCRYPTION_KEY is not set: set the new key first.", file=sys.stderr)
        return 2
    try:
        cipher = TokenCipher(settings.encryption_keys)
    except InvalidKey as error:
        print(f"missioncontrol: {error}", file=sys.stderr)
        return 2
    owned = database is None
    database = database or await connect(settings)
    try:
        changed = await MongoInstallationStore(database, cipher=cipher).rotate_keys()
    finally:
        if owned:
            await database.close()
    (stdout or sys.stdout).write(f"Re-encrypted tokens in {changed} documents under the newest key.\n")
    return 0
