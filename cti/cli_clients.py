"""``cti clients import|export|vcard``: bulk work on the client directory from a terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cti.clients.bulk import DirectorySink, export_directory, vcard_of
from cti.clients.directory import ClientDirectory
from cti.clients.importer import run_import_cli
from cti.clients.settings import ClientSettings
from cti.config import Config
from cti.errors import NotFound
from cti.store.sqlite import Store


def add_parsers(sub: Any, common: Any) -> None:
    p = sub.add_parser("clients", help="import, export or print client cards")
    acts = p.add_subparsers(dest="clients_command", metavar="ACTION", required=True)
    a = acts.add_parser("import", help="import clients from a CSV file (progress, row report)")
    a.add_argument("file", type=Path)
    a.add_argument("--map", action="append", default=[], metavar="COLUMN=FIELD",
                   help="map a CSV column to a field (repeat); headers are guessed otherwise")
    a.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    a.add_argument("--all-or-nothing", action="store_true",
                   help="import nothing if any row is bad")
    a.add_argument("--on-duplicate", choices=("skip", "update", "create"), default="skip",
                   help="what to do with a row whose number or e-mail is already known")
    a.add_argument("--delimiter", help="CSV delimiter (guessed by default)")
    a.add_argument("--encoding", help="file encoding (guessed by default)")
    e = acts.add_parser("export", help="export clients as CSV on standard output")
    e.add_argument("--delimiter", default=",", help="',' (default) or ';' for Excel in French")
    e.add_argument("--tag")
    e.add_argument("--type")
    v = acts.add_parser("vcard", help="print one client as a vCard")
    v.add_argument("id", type=int)
    for action in acts.choices.values():
        common(action)
        action.add_argument("--db", dest="db.path", help="SQLite database file")


async def run(ns: argparse.Namespace, config: Config) -> int:
    settings = ClientSettings.from_config(config)
    store = await Store.open(config.db_path)
    try:
        directory = ClientDirectory(store, settings)
        if ns.clients_command == "import":
            return await run_import_cli(
                ns.file, DirectorySink(directory, owner=None), mapping=ns.map,
                dry_run=ns.dry_run, all_or_nothing=ns.all_or_nothing,
                on_duplicate=ns.on_duplicate, region=settings.default_region,
                types=settings.types, delimiter=ns.delimiter, encoding=ns.encoding,
                extension_pattern=settings.extension_pattern)
        if ns.clients_command == "export":
            sys.stdout.write(await export_directory(directory, delimiter=ns.delimiter,
                                                    tag=ns.tag, type=ns.type))
            return 0
        try:
            sys.stdout.write(await vcard_of(directory, ns.id))
        except NotFound:
            print(f"cti clients vcard: no client {ns.id}", file=sys.stderr)
            return 1
        return 0
    finally:
        await store.close()
