"""The `missioncontrol` command line: serve, send-event, rules, schema."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.settings import SettingsError, load_settings
from storage.events_schema import Severity
from storage.models import NotificationType

logger = logging.getLogger(__name__)

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="missioncontrol", description="Mission Control for Slack: the bot and its operator tools."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the bot (local mode when no Slack credentials are set)")
    serve.add_argument("--seed", type=Path, metavar="FILE", help="YAML file of workspaces and rules to upsert at start")

    send = commands.add_parser("send-event", help="sign and POST a file of one event or a batch")
    send.add_argument("file", metavar="FILE", help='JSON file of one event or {"events": [...]}; - reads stdin')
    send.add_argument("--url", help="full endpoint URL (default http://127.0.0.1:$PORT/platform/events)")
    send.add_argument("--new-id", action="store_true", help="give each event a fresh id, so a file can be sent again")
    send.add_argument(
        "--now",
        action="store_true",
        help="set each event's occurred_at to the current time, so it is not older than state sent before",
    )

    rules = commands.add_parser(
        "rules", help="list, add, remove, export and import notification rules (needs MONGODB_URI)"
    )
    rule_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    add = rule_commands.add_parser("add", help="add a rule")
    add.add_argument("--channel", required=True, help="Slack channel id, such as C0123ABCD")
    add.add_argument("--type", required=True, choices=[kind.value for kind in NotificationType])
    add.add_argument("--client", help="client id; omit for all clients of the agency")
    add.add_argument("--min-severity", choices=[level.value for level in Severity], help="outlier_alerts only")
    add.add_argument("--team", help="Slack team id; may be omitted when only one workspace is stored")
    listing = rule_commands.add_parser("list", help="list rules")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    remove = rule_commands.add_parser("remove", help="remove a rule")
    remove.add_argument("rule_id", metavar="RULE_ID")
    export = rule_commands.add_parser("export", help="print the workspaces and rules as YAML, for `rules import`")
    export.add_argument("--team", action="append", default=[], help="Slack team id to export; repeat for several")
    load = rule_commands.add_parser("import", help="apply a rules file: add, change and (with --prune) remove rules")
    load.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help="YAML or JSON file in the format `rules export` writes; - reads standard input",
    )
    load.add_argument("--dry-run", action="store_true", help="print the changes without writing them")
    load.add_argument("--prune", action="store_true", help="remove stored rules of the file's workspaces it omits")

    from bot.deliveries_cli import add_parser as add_deliveries_parser

    add_deliveries_parser(commands)

    grant = commands.add_parser("grant", help="print a signed install grant (needs MISSIONCONTROL_INSTALL_SECRET)")
    grant.add_argument("--agency", required=True, help="Mission Control agency id")
    grant.add_argument("--client", help="client id, for a client workspace; omit for an agency workspace")
    grant.add_argument("--user", help="Mission Control user id of the person who installs")
    grant.add_argument("--ttl", default="1h", help="how long the grant is valid: 30m, 1h, 7d (at most 30d)")

    commands.add_parser("rotate-key", help="re-encrypt stored Slack tokens under the newest encryption key")

    manifest = commands.add_parser("manifest", help="print manifest.yml with its URLs pointing at your host")
    manifest.add_argument("--url", required=True, help="public base URL of the bot, such as https://bot.example.com")

    check = commands.add_parser("check", help="check settings, MongoDB, the Slack token and the manifest's scopes")
    check.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE",
        help="app manifest to compare with the scopes the bot uses, such as one exported from the app's settings "
        "page (default: manifest.yml of this installation)",
    )

    schema = commands.add_parser("schema", help="print the JSON Schema of platform event request bodies")
    schema.add_argument("--output", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "schema":
        return _schema(args.output)
    if args.command == "manifest":
        return _manifest(args.url)
    if args.command == "check":
        from bot.check import check_command

        return asyncio.run(check_command(manifest=args.manifest))
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"missioncontrol: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "serve":
        from bot.server import serve

        return serve(settings, seed_path=args.seed)
    if args.command == "send-event":
        from bot.send_event import send_event_file

        return asyncio.run(send_event_file(settings, args.file, url=args.url, new_id=args.new_id, now=args.now))
    if args.command == "grant":
        from bot.admin_cli import print_grant

        return print_grant(settings, agency=args.agency, client=args.client, user=args.user, ttl=args.ttl)
    if args.command == "rotate-key":
        from bot.admin_cli import rotate_key
        from bot.cli_storage import run_storage_command

        return run_storage_command(rotate_key(settings), settings=settings)
    if args.command == "rules":
        from bot.cli_storage import run_storage_command
        from bot.rules_cli import run_rules_command

        return run_storage_command(run_rules_command(settings, args), settings=settings)
    if args.command == "deliveries":
        from bot.cli_storage import run_storage_command
        from bot.deliveries_cli import run_deliveries_command

        return run_storage_command(run_deliveries_command(settings, args), settings=settings)
    raise AssertionError(f"unhandled command {args.command}")


MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"
MANIFEST_PLACEHOLDER_HOST = "https://missioncontrol.example.com"


def manifest_for(base_url: str) -> str:
    """Return manifest.yml with the placeholder host replaced by `base_url`."""
    # Accept the request URL itself too: the manifest adds /slack/events to the host.
    host = base_url.rstrip("/").removesuffix("/slack/events")
    return MANIFEST.read_text(encoding="utf-8").replace(MANIFEST_PLACEHOLDER_HOST, host)


def _manifest(base_url: str) -> int:
    if not base_url.startswith("https://"):
        print(
            "missioncontrol: --url must start with https://, because Slack sends requests over HTTPS only.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sys.stdout.write(manifest_for(base_url))
    return 0


def _schema(output: Path | None, stdout: TextIO | None = None) -> int:
    from storage.events_schema import platform_events_json_schema

    text = json.dumps(platform_events_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        (stdout or sys.stdout).write(text)
    else:
        output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
