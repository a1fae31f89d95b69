"""`neuralpatch market`: publish, find and install patches through catalogues.

A catalogue is a static folder (`index.json`, the plugin files, their icons; docs/market.md)
that any web server or file share can host; `market serve` is a small read-only server
for one. The work is in the engine (`catalogue`, `market_*`); this module parses options and
prints results (`market_output`).
"""

from __future__ import annotations

import argparse
import sys

from neuralpatch.commands.options import add_base_options


def add_parser(sub) -> None:
    p = sub.add_parser(
        "market",
        help="publish, find and install patches (catalogues)",
        description="Share patches through a catalogue: a static folder with index.json, the "
        "plugin files and their icons, hosted by any web server (docs/market.md).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = actions.add_parser("keygen", help="make an Ed25519 key pair for signing entries")
    a.add_argument("key", metavar="KEY", help="private key file to write (KEY.pub beside it)")
    _json(a, "keygen")
    a.set_defaults(market_run=keygen)

    a = actions.add_parser("publish", help="add plugin files to a catalogue folder")
    a.add_argument("patches", nargs="+", metavar="PATCH", help=".specialneurons files")
    a.add_argument("--to", required=True, metavar="CATALOGUE_DIR", help="catalogue folder")
    a.add_argument("--key", metavar="KEY", help="sign the new entries with this private key")
    _json(a, "publish")
    a.set_defaults(market_run=publish)

    a = actions.add_parser("serve", help="serve a catalogue folder read-only over HTTP")
    a.add_argument("folder", metavar="CATALOGUE_DIR")
    a.add_argument("--port", type=int, default=8765, help="TCP port (8765; 0: any free port)")
    a.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    a.set_defaults(market_run=serve)

    a = actions.add_parser("search", help="list a catalogue's patches matching a query")
    a.add_argument("source", metavar="URL_OR_DIR", help="catalogue URL or folder")
    a.add_argument("query", nargs="*", metavar="QUERY", help="words to find (all must match)")
    a.add_argument("--patches", metavar="DIR", help="patch folder to show installed state of")
    _network(a)
    _json(a, "search")
    a.set_defaults(market_run=search)

    for action, what in (
        ("install", "download, verify and install a patch"),
        ("update", "upgrade installed patches to their newest versions"),
    ):
        a = actions.add_parser(action, help=what)
        a.add_argument("source", metavar="URL_OR_DIR", help="catalogue URL or folder")
        if action == "install":
            a.add_argument("spec", metavar="NAME[@VERSION]", help="patch (newest fitting version)")
        a.add_argument("--to", required=True, metavar="PATCH_DIR", help="patch folder")
        a.add_argument(
            "--trust",
            metavar="KEY.pub",
            help="refuse entries not signed by this public key (default: the key the market "
            "config names for this catalogue, if any)",
        )
        _network(a)
        _json(a, action)
        a.set_defaults(market_run=install if action == "install" else update)

    a = actions.add_parser("browse", help="the market screen: browse and install with a key")
    a.add_argument(
        "source", nargs="?", metavar="URL_OR_DIR", help="catalogue (default: the configured ones)"
    )
    a.add_argument("--to", metavar="PATCH_DIR", help="patch folder installs go into")
    a.add_argument("--trust", metavar="KEY.pub", help="refuse entries not signed by this key")
    add_base_options(a)
    a.set_defaults(market_run=browse)

    a = actions.add_parser("catalogues", help="list or change the configured catalogues")
    a.add_argument("--add", metavar="URL_OR_DIR", help="add a catalogue (or change its key)")
    a.add_argument(
        "--trust", metavar="KEY.pub", help="with --add: the key entries must be signed by"
    )
    a.add_argument("--remove", metavar="URL_OR_DIR", help="remove a catalogue")
    _json(a, "catalogues")
    a.set_defaults(market_run=catalogues)
    p.set_defaults(run=run)


def _json(parser: argparse.ArgumentParser, action: str) -> None:
    from neuralpatch.commands.market_output import JSON_HELP

    parser.add_argument("--json", action="store_true", help=JSON_HELP[action])


def _network(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="network timeout (30 s)"
    )
    add_base_options(parser)


def run(args: argparse.Namespace) -> int:
    """The action; its errors are printed here, since they quote catalogue-supplied text."""
    from neuralpatch.engine.errors import NeuralpatchError
    from neuralpatch.engine.safe_text import printable

    try:
        return args.market_run(args)
    except NeuralpatchError as exc:
        print(f"neuralpatch: error: {printable(exc)}", file=sys.stderr)
        return 2


def keygen(args: argparse.Namespace) -> int:
    from neuralpatch.commands.market_output import emit
    from neuralpatch.engine.market_signing import generate_key, key_id, load_public_key

    private, public = generate_key(args.key)
    found = {"private_key": str(private), "public_key": str(public)}
    found["key_id"] = key_id(load_public_key(public))
    emit(
        args,
        found,
        [
            f"private key  {private}  (keep it secret)",
            f"public key   {public}",
            f"key id       {found['key_id']}",
        ],
    )
    return 0


def publish(args: argparse.Namespace) -> int:
    from neuralpatch.commands.market_output import emit, published_lines
    from neuralpatch.engine.classes import imagenet_classes
    from neuralpatch.engine.market_publish import publish as publish_files
    from neuralpatch.engine.market_signing import load_private_key

    key = load_private_key(args.key) if args.key else None
    results = publish_files(args.patches, args.to, key=key, classes=imagenet_classes())
    report = published_lines(args.to, results)
    emit(args, report[0], report[1])
    return 0


def serve(args: argparse.Namespace) -> int:
    from neuralpatch.engine.market_server import serve_catalogue
    from neuralpatch.engine.safe_text import printable

    server = serve_catalogue(  # a request line comes from the network: printed escaped
        args.folder,
        args.host,
        args.port,
        on_request=lambda line: print(printable(line), file=sys.stderr),
    )

    print(f"serving {printable(server.root)} at {server.url}  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _trusted(args: argparse.Namespace):
    from neuralpatch.engine.market_config import trust_for
    from neuralpatch.engine.market_signing import load_public_key

    path = args.trust or trust_for(args.source)
    return load_public_key(path) if path else None


def _system(args: argparse.Namespace):
    from neuralpatch.commands.options import load_base
    from neuralpatch.engine.patch_system import PatchSystem

    return PatchSystem.for_base(load_base(args))


def search(args: argparse.Namespace) -> int:
    from neuralpatch.commands.market_output import emit, search_report, warn_problems
    from neuralpatch.engine.market_fetch import fetch_catalogue

    location, catalogue = fetch_catalogue(args.source, timeout=args.timeout)
    warn_problems(catalogue)
    report, lines = search_report(
        location, catalogue, " ".join(args.query), _system(args), args.patches
    )
    emit(args, report, lines)
    return 0


def install(args: argparse.Namespace) -> int:
    from neuralpatch.commands.market_output import download_bar, emit, installed_report
    from neuralpatch.engine.catalogue import parse_spec
    from neuralpatch.engine.market_fetch import fetch_catalogue
    from neuralpatch.engine.market_install import install as install_patch

    trusted = _trusted(args)
    location, catalogue = fetch_catalogue(args.source, timeout=args.timeout)
    name, version = parse_spec(args.spec)
    with download_bar(name) as bar:
        done = install_patch(
            location,
            catalogue,
            name,
            args.to,
            _system(args),
            version=version,
            trusted=trusted,
            timeout=args.timeout,
            on_progress=bar,
        )
    emit(args, *installed_report(done))
    return 0


def update(args: argparse.Namespace) -> int:
    from neuralpatch.commands.market_output import download_bar, emit, update_report
    from neuralpatch.engine.catalogue import CatalogueError
    from neuralpatch.engine.market_fetch import fetch_catalogue
    from neuralpatch.engine.market_install import install_entry, plan_updates
    from neuralpatch.engine.safe_text import printable

    trusted = _trusted(args)
    location, catalogue = fetch_catalogue(args.source, timeout=args.timeout)
    system = _system(args)
    upgrades, current = plan_updates(catalogue, args.to, system)
    done, failed = [], []
    for up in upgrades:
        try:
            with download_bar(up.newer.name) as bar:
                installed = install_entry(
                    location,
                    catalogue,
                    up.newer,
                    args.to,
                    system,
                    trusted=trusted,
                    timeout=args.timeout,
                    on_progress=bar,
                )
            done.append((up, installed))
        except CatalogueError as exc:  # one refused upgrade must not stop the others
            failed.append((up, str(exc)))
            print(f"neuralpatch: error: {printable(exc)}", file=sys.stderr)
    emit(args, *update_report(args.to, done, current, failed))
    return 2 if failed else 0


def browse(args: argparse.Namespace) -> int:
    from neuralpatch.commands.options import load_base, require_terminal
    from neuralpatch.engine.errors import SettingError
    from neuralpatch.engine.market_config import CatalogueSource

    if args.trust and not args.source:
        raise SettingError("--trust goes with a catalogue URL_OR_DIR")
    require_terminal("market browse")
    base = load_base(args)
    from neuralpatch.tui.market_app import run_market_app

    source = CatalogueSource(args.source, args.trust) if args.source else None
    return run_market_app(base, args.to, source)


def catalogues(args: argparse.Namespace) -> int:
    from neuralpatch.commands.market_output import emit
    from neuralpatch.engine.errors import SettingError
    from neuralpatch.engine.market_config import (
        add_source,
        config_path,
        read_sources,
        remove_source,
    )
    from neuralpatch.engine.safe_text import printable

    if args.trust and not args.add:
        raise SettingError("--trust goes with --add")
    if args.add:
        if args.trust:
            from neuralpatch.engine.market_signing import load_public_key

            load_public_key(args.trust)  # refuse a bad key file now, not at install time
        sources = add_source(args.add, args.trust)
    elif args.remove:
        sources = remove_source(args.remove)
    else:
        sources = read_sources()
    report = {"config": str(config_path()), "catalogues": [s.__dict__ for s in sources]}
    lines = [f"{config_path()}: {len(sources)} catalogue(s)"]
    lines += [
        f"  {printable(s.url)}" + (f"  trust {printable(s.trust)}" if s.trust else "")
        for s in sources
    ]
    emit(args, report, lines)
    return 0
