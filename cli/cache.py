"""`gan-eval cache info|clear`: what the feature cache holds, and emptying it."""

from __future__ import annotations

import argparse
import json

from gan_eval.cli.options import Parser


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `cache` sub-command."""
    cache = commands.add_parser("cache", help="show or clear the feature cache")
    actions = cache.add_subparsers(dest="action", required=True, parser_class=Parser)
    info = actions.add_parser("info", help="where the feature cache is, how many entries and bytes")
    info.add_argument("--json", action="store_true", help="print JSON")
    actions.add_parser("clear", help="delete every entry the cache wrote (other files are left and listed)")
    cache.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the cache summary, or clear it."""
    from gan_eval.cache import FeatureCache

    cache = FeatureCache()
    if args.action == "clear":
        removed, freed, foreign = cache.clear()
        print(f"removed {removed} entries ({freed / 2**20:.1f} MiB) from {cache.root}")
        if foreign:
            print(f"left {len(foreign)} file(s) the cache did not write, e.g. {foreign[0]}")
        return 0
    entries, foreign = cache.scan()
    size = sum(p.stat().st_size for p in entries if p.exists())
    if args.json:
        record = {"path": str(cache.root), "entries": len(entries), "bytes": size}
        print(json.dumps(dict(record, other_files=[str(p) for p in foreign])))
    else:
        print(f"{cache.root}: {len(entries)} entries, {size / 2**20:.1f} MiB")
        if foreign:
            print(
                f"also {len(foreign)} file(s) the cache did not write (not counted, never cleared): {foreign[0]}, ..."
            )
    return 0
