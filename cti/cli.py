"""Command line: ``cti serve``, ``replay``, ``record-ami``, ``sim``, ``demo``, ``user``,
``config``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cti import __version__
from cti.config import SETTINGS, Config, ConfigError, PbxConfig, load_config
from cti.logs import setup_logging

log = logging.getLogger("cti")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, help="TOML configuration file")
    p.add_argument("--log-level", dest="log.level", help="debug, info, warning, error")


def _web_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--web-host", dest="web.host", help="web UI address (web.host)")
    p.add_argument("--web-port", dest="web.port", type=int,
                   help="web UI port (web.port; 0: any free port)")


def _user_parsers(sub: Any) -> None:
    p = sub.add_parser("user", help="manage the people who log in to the web UI")
    users = p.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    a = users.add_parser("add", help="create a user")
    a.add_argument("username")
    a.add_argument("--role", choices=("agent", "supervisor", "admin"), default="agent")
    a.add_argument("--ext", action="append", default=[], metavar="EXTENSION",
                   help="extension of the user's phone (repeat for several)")
    a.add_argument("--name", default="", help="display name")
    a.add_argument("--language", choices=("fr", "en"), help="UI language (default: browser)")
    a.add_argument("--email", default="", help="e-mail address for ticket notifications")
    a.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    a = users.add_parser("passwd", help="set a user's password (ends their sessions)")
    a.add_argument("username")
    a.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    users.add_parser("list", help="list users")
    for action, text in (("disable", "disable a user (ends their sessions)"),
                         ("enable", "enable a disabled user")):
        a = users.add_parser(action, help=text)
        a.add_argument("username")
    for a in users.choices.values():
        _common(a)
        a.add_argument("--db", dest="db.path", help="SQLite database file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cti",
        description="Telephony-first CTI server for Asterisk: every call captured over AMI, "
                    "stored in SQLite, pushed to agents' browsers.",
    )
    parser.add_argument("--version", action="version", version=f"cti {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="run the daemon: AMI → call tracker → SQLite")
    _common(p)
    p.add_argument("--db", dest="db.path", help="SQLite database file")
    p.add_argument("--ami-host", dest="pbx.ami_host", help="AMI host (first PBX)")
    p.add_argument("--ami-port", dest="pbx.ami_port", type=int, help="AMI port (first PBX)")
    p.add_argument("--log-json", dest="log.json", action="store_const", const=True,
                   help="structured JSON logs")
    _web_flags(p)

    p = sub.add_parser("replay", help="run a capture through the tracker, print one JSON call "
                                      "record per line")
    _common(p)
    p.add_argument("path", type=Path, help="raw AMI capture, JSON array or JSON lines "
                                          "(or a folder holding ami.raw)")
    p.add_argument("--db", dest="db.path", help="also store the calls in this SQLite file")
    p.add_argument("--pbx", help="PBX name to use from the config (default: the first)")

    p = sub.add_parser("record-ami", help="capture a live AMI stream (raw bytes on stdout, "
                                          "timing sidecar beside it) for a bug report")
    _common(p)
    p.add_argument("--pbx", help="PBX name from the config (default: the first)")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: Ctrl-C)")
    p.add_argument("--timing", type=Path, help="timing sidecar path (default: <stdout file>"
                                               ".timing.jsonl when stdout is a file)")

    for name, text in (("sim", "run the built-in PBX simulator alone (AMI + ARI, generated "
                               "calls)"),
                       ("demo", "run the simulator and the daemon together, printing each call")):
        p = sub.add_parser(name, help=text)
        _common(p)
        p.add_argument("--host", default="127.0.0.1", help="simulator address")
        p.add_argument("--ami-port", type=int, default=5038, help="simulator AMI port")
        p.add_argument("--ari-port", type=int, default=8088, help="simulator ARI port")
        p.add_argument("--rate", type=float, default=4.0, help="generated calls per minute")
        p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same calls)")
        p.add_argument("--recordings", type=Path, default=Path("recordings"),
                       help="folder for the simulated recordings")
        p.add_argument("--time-scale", type=float, default=1.0,
                       help="simulated seconds per real second (60: a minute per second)")
        p.add_argument("--seconds", type=float, default=0.0, help="stop after this long")
        if name == "demo":
            p.add_argument("--db", dest="db.path", default="cti-demo.db",
                           help="SQLite database file")
            p.add_argument("--no-auto-missed", dest="tickets.auto_missed",
                           action="store_false", default=True,
                           help="do not open a ticket for each missed call (the demo does)")
            p.add_argument("--no-survey", dest="survey.enabled", action="store_false",
                           default=True, help="no post-call survey (the demo's callers answer "
                           "it after half of the answered inbound calls)")
            _web_flags(p)

    _user_parsers(sub)
    from cti.cli_clients import add_parsers as add_client_parsers

    add_client_parsers(sub, _common)
    from cti.cli_speech import add_parsers as add_speech_parsers

    add_speech_parsers(sub, _common)

    p = sub.add_parser("config", help="check the configuration and print it (secrets hidden)")
    _common(p)
    p.add_argument("--settings", action="store_true", help="list every setting with its help")
    return parser


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(ns).items() if "." in k and v is not None}


def _pick_pbx(config: Config, name: str | None) -> PbxConfig:
    if name is None:
        return config.pbxes[0]
    for pbx in config.pbxes:
        if pbx.name == name:
            return pbx
    have = ", ".join(p.name for p in config.pbxes)
    raise ConfigError(f"no [[pbx]] named {name!r} (have: {have})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.command is None:
        parser.print_help()
        return 0
    try:
        config = load_config(getattr(ns, "config", None), overrides=_overrides(ns))
    except ConfigError as exc:
        print(f"cti: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.get("log.level"), bool(config.get("log.json")))
    try:
        if ns.command == "replay":
            return _cmd_replay(ns, config)
        if ns.command == "serve":
            from cti.daemon import serve
            from cti.webapp.server import start_for_daemon

            return asyncio.run(serve(config, web=start_for_daemon))
        if ns.command == "user":
            return asyncio.run(_cmd_user(ns, config))
        if ns.command == "clients":
            from cti import cli_clients

            return asyncio.run(cli_clients.run(ns, config))
        if ns.command == "transcribe":
            from cti import cli_speech

            return asyncio.run(cli_speech.run(ns, config))
        if ns.command == "record-ami":
            from cti.ami.recorder import record

            pbx = _pick_pbx(config, ns.pbx)
            return asyncio.run(record(pbx, ns.seconds, ns.timing))
        if ns.command in ("sim", "demo"):
            return _cmd_sim(ns, config)
        if ns.command == "config":
            return _cmd_config(ns, config)
    except ConfigError as exc:
        print(f"cti: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {ns.command}")
    return 2


def _cmd_replay(ns: argparse.Namespace, config: Config) -> int:
    from cti.capture import CaptureError
    from cti.clients.settings import ClientSettings
    from cti.replay import replay

    pbx = _pick_pbx(config, ns.pbx)
    db = Path(getattr(ns, "db.path")) if getattr(ns, "db.path", None) else None
    try:
        asyncio.run(replay(ns.path, config.tracker_config(pbx), db=db, out=sys.stdout,
                           progress=True, clients=ClientSettings.from_config(config)))
    except CaptureError as exc:
        print(f"cti replay: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_sim(ns: argparse.Namespace, config: Config) -> int:
    from cti.demo import SimOptions, run_demo, run_sim

    opts = SimOptions(host=ns.host, ami_port=ns.ami_port, ari_port=ns.ari_port, rate=ns.rate,
                      seed=ns.seed, recordings=ns.recordings, time_scale=ns.time_scale)
    if ns.command == "sim":
        return asyncio.run(run_sim(opts, ns.seconds))
    from cti.webapp.server import start_for_daemon

    return asyncio.run(run_demo(config, opts, ns.seconds, web=start_for_daemon))


def _read_password(from_stdin: bool) -> str:
    """First line of stdin, or asked twice without echo (a typo would lock the user out)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        raise ValueError("the two passwords differ")
    return first


async def _cmd_user(ns: argparse.Namespace, config: Config) -> int:
    """``cti user add|passwd|list|disable|enable`` on the database of ``db.path``."""
    from cti.errors import Conflict, NotFound, ValidationError
    from cti.store.sqlite import Store, StoreError
    from cti.users import UserService

    try:
        store = await Store.open(config.db_path)
    except StoreError as exc:
        print(f"cti user: {exc}", file=sys.stderr)
        return 1
    try:
        users = UserService(store)
        action = ns.user_command
        if action == "list":
            rows = [("username", "role", "extensions", "language", "active", "name")]
            rows += [(u.username, u.role, ",".join(u.extensions) or "-", u.language or "-",
                      "yes" if u.active else "no", u.display_name)
                     for u in await users.list_all()]
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
            for row in rows:
                print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
            return 0
        if action == "add":
            password = _read_password(ns.password_stdin)
            user = await users.create(ns.username, password, ns.role, ns.ext,
                                      display_name=ns.name, language=ns.language,
                                      email=ns.email)
            print(f"user {user.username} created ({user.role}"
                  f"{', extensions ' + ', '.join(user.extensions) if user.extensions else ''})")
            return 0
        found = await users.get_by_username(ns.username)
        if found is None:
            raise NotFound(f"no user {ns.username!r}")
        if action == "passwd":
            await users.set_password(found.id, _read_password(ns.password_stdin))
            print(f"password of {found.username} changed; their sessions were closed")
        else:
            await users.set_active(found.id, action == "enable")
            print(f"user {found.username} {action}d")
        return 0
    except ValidationError as exc:
        print(f"cti user: {exc.field}: {exc.message}", file=sys.stderr)
        return 1
    except (Conflict, NotFound, ValueError) as exc:
        print(f"cti user: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()


def _cmd_config(ns: argparse.Namespace, config: Config) -> int:
    if ns.settings:
        for s in SETTINGS:
            print(f"{s.key:28} default {s.default!r}\n{'':28} {s.help}")
        return 0
    secret_words = ("secret", "password", "api_key", "token")
    values = {k: ("***" if v and any(w in k for w in secret_words) else v)
              for k, v in config.values.items()}
    pbxes = []
    for pbx in config.pbxes:
        d = {k: ("***" if any(w in k for w in secret_words) else v)
             for k, v in vars(pbx).items()}
        pbxes.append(d)
    print(json.dumps({"source": config.source, "settings": values, "pbx": pbxes}, indent=2,
                     default=list))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
