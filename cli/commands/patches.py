"""`neuralpatch patches DIR`: the patches of a folder, or with `--watch` their reloads live."""

from __future__ import annotations

import argparse
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from neuralpatch.commands.options import add_base_options, load_base
from neuralpatch.engine.safe_text import json_text, printable

JSON_HELP = (
    "print one JSON object: {folder, base: {name, fingerprint}, patches: [{name, file, "
    "description, created, status: running|disabled, reason, triggers: [{tag, name, source: "
    "base|patch|none, from: [patch names]}], outputs: [{tag, name}], icon}], rejected: "
    "[{file, reason}], cycles: [[patch names]], pins: [{name, file}], warnings: [str]} (each "
    "patch also has min_confidence, trigger_top_k: it triggers on the base's k best classes, "
    "pinned: bool, chosen: why it runs when other files share its name, or null); warnings "
    "name files that share a name but not their outputs, and pins that pin nothing. "
    "With --watch: that object on one line, then "
    "one line per event: {time, event: loaded|replaced|removed|rejected|disabled|enabled, "
    "file, name, reason}"
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "patches",
        help="list a folder of patches, or watch it reload",
        description="List the .specialneurons patches in a folder: what "
        "triggers them, what they answer, and the files refused.",
    )
    p.add_argument("folder", metavar="DIR", help="folder of .specialneurons files")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    pins = p.add_mutually_exclusive_group()
    pins.add_argument(
        "--pin",
        metavar="FILE",
        help="run this file of its patch name in DIR, whatever the other files' dates "
        "(kept in DIR/.neuralpatch-pins.json), then list",
    )
    pins.add_argument(
        "--unpin",
        metavar="NAME",
        help="drop the pin of this patch name (or file name) in DIR, then list",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="keep running and print each reload as it happens (Ctrl-C stops)",
    )
    add_base_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from neuralpatch.engine.patch_system import PatchSystem

    change_pins(args)
    base = load_base(args)
    system = PatchSystem.for_base(base)
    if args.watch:
        return watch(args, base, system)
    system.load_dir(args.folder)
    listing = patch_listing(system, args.folder, base)
    if args.json:
        print(json_text(listing, indent=2))
    else:
        print("\n".join(map(printable, listing_lines(listing))))
    return 2 if listing["rejected"] else 0


def change_pins(args: argparse.Namespace) -> None:
    """`--pin FILE` (a file name in DIR, or a path to one) / `--unpin NAME`; says so on stderr."""
    import sys

    from neuralpatch.engine.errors import SettingError
    from neuralpatch.engine.patch_pins import pin, unpin

    folder = Path(os.path.abspath(Path(args.folder).expanduser()))
    if args.pin:
        path = Path(args.pin).expanduser()
        path = Path(os.path.abspath(folder / path if len(path.parts) == 1 else path))
        if path.parent != folder:
            raise SettingError(f"--pin must name a file directly in {folder}", path)
        name, _ = pin(path)
        print(printable(f"pinned {path.name} for the patch name {name!r}"), file=sys.stderr)
    elif args.unpin:
        names = unpin(folder, args.unpin)
        print(printable(f"unpinned {', '.join(map(repr, names))}"), file=sys.stderr)


def watch(args: argparse.Namespace, base, system) -> int:
    from neuralpatch.engine.patch_watcher import PatchWatcher

    watcher = PatchWatcher(system, args.folder)

    def show(event) -> None:
        stamp = datetime.now().astimezone()
        if args.json:
            line = json_text({"time": stamp.isoformat(timespec="milliseconds"), **event.to_dict()})
        else:
            line = f"{stamp:%H:%M:%S}  {event.kind:<8}  {event.path.name}"
            line += f"  ({event.name})" if event.name else ""
            line += f": {event.reason}" if event.reason else ""
            line = printable(line)
        print(line, flush=True)

    # Listen before starting, hold events back until the listing is out: a change made
    # while the folder loads is then printed, not lost. Events of the load itself are in the
    # listing, so they are dropped.
    held: list | None = []
    lock = threading.Lock()

    def hold_or_show(event) -> None:
        with lock:
            if held is not None:
                held.append(event)
                return
        show(event)

    watcher.add_listener(hold_or_show)
    loaded = len(watcher.start())
    try:
        listing = patch_listing(system, args.folder, base)
        if args.json:
            print(json_text(listing), flush=True)
        else:
            print("\n".join(map(printable, listing_lines(listing))))
            print(printable(f"watching {watcher.folder} (Ctrl-C stops)"), flush=True)
        with lock:
            later, held = held[loaded:], None
        for event in later:
            show(event)
        while watcher.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
    return 0


def patch_listing(system, folder: str | Path, base) -> dict[str, Any]:
    """The JSON-able description `patches --json` prints (keys in docs/patch-system.md)."""
    from neuralpatch.engine.class_map import tag_key
    from neuralpatch.engine.name_collisions import name_collisions

    index = system.index
    pinned = {path: name for pins in system.pins for path, name in pins.paths().items()}
    outputs_of: dict[int, list[tuple[str, str]]] = {}  # tag_key -> [(patch, output name)]
    for p in index.enabled:
        for o in p.patch.outputs:
            outputs_of.setdefault(tag_key(o.tag), []).append((p.name, o.name))
    patches = []
    for p in index.patches:
        triggers = []
        for tag in p.patch.triggers:
            masters = [m for m in outputs_of.get(tag_key(tag), []) if m[0] != p.name]
            base_name = base.classes.name_of_tag(tag)
            source = "base" if base_name else "patch" if masters else "none"
            triggers.append(
                {
                    "tag": tag,
                    "name": base_name or (masters[0][1] if masters else None),
                    "source": source,
                    "from": [m[0] for m in masters],
                }
            )
        patches.append(
            {
                "name": p.name,
                "file": str(p.path),
                "description": p.patch.description,
                "created": p.patch.created,
                "status": "disabled" if p.disabled else "running",
                "reason": p.disabled,
                "triggers": triggers,
                "outputs": [{"tag": o.tag, "name": o.name} for o in p.patch.outputs],
                "icon": p.patch.icon_png is not None,
                "min_confidence": p.patch.min_confidence,
                "trigger_top_k": p.patch.trigger_top_k,
                "pinned": pinned.get(p.path) == p.name,
                "chosen": p.chosen,
            }
        )
    return {
        "folder": str(Path(folder).absolute()),
        "base": {"name": base.topology.name, "fingerprint": base.fingerprint},
        "patches": patches,
        "rejected": [
            {"file": str(path), "reason": reason} for path, reason in system.rejected.items()
        ],
        "cycles": [list(c) for c in index.cycles],
        "pins": [{"name": name, "file": str(path)} for path, name in pinned.items()],
        "warnings": name_collisions(index.patches) + pin_problems(system),
    }


def pin_problems(system) -> list[str]:
    """Pins that pin nothing: a broken pins file, or a pinned file gone or renamed inside."""
    loaded = {p.path: p.name for p in system.patches}
    problems = [pins.problem for pins in system.pins if pins.problem]
    for pins in system.pins:
        for path, name in pins.paths().items():
            if loaded.get(path) != name:
                problems.append(
                    f"the pin of {name!r} names {path.name}, which is not a loaded patch of "
                    "that name: the newest file of that name runs"
                )
    return problems


def listing_lines(listing: dict[str, Any]) -> list[str]:
    patches, rejected = listing["patches"], listing["rejected"]
    running = sum(p["status"] == "running" for p in patches)
    noun = "patch" if len(patches) == 1 else "patches"
    lines = [
        f"{listing['folder']}: {len(patches)} {noun} ({running} running, "
        f"{len(patches) - running} disabled), {len(rejected)} rejected"
    ]
    for p in patches:
        lines.append(f"{p['name']}  [{p['status']}]  icon: {'yes' if p['icon'] else 'no'}")
        lines.append(f"  file      {Path(p['file']).name}")
        if p["reason"]:
            lines.append(f"  disabled  {p['reason']}")
        if p["chosen"]:
            lines.append(f"  runs      {p['chosen']}")
        top = p["trigger_top_k"]
        on = f"any of the base's {top} best classes is: " if top > 1 else ""
        lines.append(f"  triggers  {on}" + ", ".join(_trigger_text(t) for t in p["triggers"]))
        lines.append("  outputs   " + ", ".join(f"{o['name']} ({o['tag']})" for o in p["outputs"]))
        if p["min_confidence"]:
            lines.append(f"  abstains  under {p['min_confidence']:g} top probability")
    lines.extend(f"warning: {w}" for w in listing["warnings"])
    if rejected:
        lines.append("rejected:")
        lines.extend(f"  {Path(r['file']).name}: {r['reason']}" for r in rejected)
    return lines


def _trigger_text(trigger: dict[str, Any]) -> str:
    if trigger["source"] == "base":
        return f"{trigger['name']} ({trigger['tag']})"
    if trigger["source"] == "patch":
        return f"{trigger['name']} ({trigger['tag']}, output of {', '.join(trigger['from'])})"
    return f"{trigger['tag']} (nothing answers it yet)"
