"""What `neuralpatch market` prints: one report dict for `--json`, lines for people.

File-supplied text (patch, output and trigger names, descriptions, file names) goes through
`printable`; JSON through `json_text`. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from neuralpatch.engine.safe_text import json_text, printable

BIG_DOWNLOAD = 1 << 20  # smaller files arrive before a bar could tell anything
# The keys each action's --json prints: its --help text, so the two never disagree.
JSON_HELP = {
    "keygen": "print {private_key, public_key, key_id}",
    "publish": "print {catalogue, index, published: [{source, name, version, file, sha256, "
    "size, icon, new, signed, key_id}]}",
    "search": "print {catalogue, base: {fingerprint, feature_dim}, patch_folder, entries: "
    "[{name, version, versions: [int], description, created, published, outputs: [{tag, "
    "name}], triggers: [{tag, name}], base_fingerprint, feature_dim, file, size, sha256, "
    "icon, icon_size, icon_sha256, signature: null | {algorithm, key_id, value}, signed, "
    "key_id, fits, installed: null | {file, version}, update_available}], problems: [text]}: "
    "the newest version of each matching patch; installed is null without --patches or "
    "when no file there holds that patch, its version null when the file is not one of "
    "the catalogue's versions",
    "install": "print {name, version, file, sha256, size, replaced: null | {file, sha256}, "
    "already_installed, verified_key, same_name: [files also holding a patch of that name: "
    "only the newest runs]}",
    "update": "print {patch_folder, updated: [{name, from_version, version, file}], "
    "current: [{name, version, file}], failed: [{name, error}]}",
    "catalogues": "print {config, catalogues: [{url, trust}]}",
}


def emit(args: argparse.Namespace, report: dict[str, Any], lines: list[str]) -> None:
    print(json_text(report, indent=2) if args.json else "\n".join(lines))


def warn_problems(catalogue) -> None:
    for problem in catalogue.problems:
        print(f"neuralpatch: warning: {printable(problem)}; skipped", file=sys.stderr)


@contextlib.contextmanager
def download_bar(name: str) -> Iterator[Any]:
    """A progress callback drawing a bar on stderr for downloads over 1 MiB."""
    from neuralpatch.commands.progress import ProgressLine

    with ProgressLine(f"downloading {printable(name)}") as bar:

        def update(done: int, total: int) -> None:
            if total >= BIG_DOWNLOAD:
                bar.update(done >> 10, total >> 10, "KiB")

        yield update


def published_lines(folder: str, results) -> tuple[dict[str, Any], list[str]]:
    root = Path(folder).absolute()
    items = []
    lines = []
    for r in results:
        e = r.entry
        items.append(
            {
                "source": str(r.source),
                "name": e.name,
                "version": e.version,
                "file": e.file,
                "sha256": e.sha256,
                "size": e.size,
                "icon": e.icon,
                "new": r.new,
                "signed": e.signature is not None,
                "key_id": e.signature.key_id if e.signature else None,
            }
        )
        state = "published" if r.new else "already listed"
        signed = f", signed by {e.signature.key_id}" if e.signature else ", unsigned"
        lines.append(
            f"{state:<15} {printable(e.spec)}  {printable(e.file)}  ({e.size} bytes{signed})"
        )
    lines.append(f"index           {root / 'index.json'}")
    report = {"catalogue": str(root), "index": str(root / "index.json"), "published": items}
    return report, lines


def search_report(location, catalogue, query: str, system, patches: str | None):
    from neuralpatch.engine.market_install import entry_statuses, installed_files

    files = installed_files(patches) if patches else []
    statuses = entry_statuses(catalogue, catalogue.search(query), files, system)
    entries, lines = [], []
    for s in statuses:
        e = s.entry
        installed = None
        if s.installed is not None:
            version = s.installed_entry.version if s.installed_entry else None
            installed = {"file": str(s.installed.path), "version": version}
        entries.append(
            e.to_dict()
            | {
                "versions": [v.version for v in catalogue.versions(e.name)],
                "fits": s.fits,
                "installed": installed,
                "update_available": s.update_available,
                "signed": e.signature is not None,
                "key_id": e.signature.key_id if e.signature else None,
            }
        )
        lines += entry_lines(s)
    report = {
        "catalogue": location.text,
        "base": {"fingerprint": system.base_fingerprint, "feature_dim": system.feature_dim},
        "patch_folder": str(Path(patches).absolute()) if patches else None,
        "entries": entries,
        "problems": catalogue.problems,
    }
    head = f"{printable(location.text)}: {len(entries)} patch(es)"
    head += f" matching {printable(query)!r}" if query else ""
    return report, [head, *lines]


def status_words(s) -> str:
    """`fits · installed v2 · update available` for one entry's status."""
    e = s.entry
    words = ["fits this base network" if s.fits else f"other base network ({e.base_fingerprint})"]
    if s.installed is not None and s.installed_entry is not None:
        words.append(f"installed v{s.installed_entry.version}")
    elif s.installed is not None:
        words.append(f"a local file holds this name ({s.installed.path.name})")
    if not s.fits and s.newest_fitting is not None:
        words.append(f"version {s.newest_fitting.version} fits")
    if s.update_available:
        words.append(f"update to v{s.newest_fitting.version} available")
    words.append(f"signed by {e.signature.key_id}" if e.signature else "unsigned")
    return " · ".join(printable(w) for w in words)


def entry_lines(s) -> list[str]:
    e = s.entry
    triggers = ", ".join(printable(n or t) for t, n in e.triggers)
    outputs = ", ".join(printable(n) for _, n in e.outputs)
    return [
        f"{printable(e.name)} {e.version}  [{status_words(s)}]",
        f"  {printable(e.description)}",
        f"  outputs   {outputs}",
        f"  triggers  {triggers}",
    ]


def installed_report(done) -> tuple[dict[str, Any], list[str]]:
    e = done.entry
    replaced = None
    if done.replaced is not None:
        replaced = {"file": str(done.replaced.path), "sha256": done.replaced.sha256}
    report = {
        "name": e.name,
        "version": e.version,
        "file": str(done.path),
        "sha256": e.sha256,
        "size": e.size,
        "replaced": replaced,
        "already_installed": done.already,
        "verified_key": done.verified_key,
        "same_name": [str(p) for p in done.same_name],
    }
    if done.already:
        line = f"already installed {printable(e.spec)} in {printable(done.path)}"
    else:
        line = f"installed {printable(e.spec)} as {printable(done.path)}"
        line += " (replacing the previous version)" if done.replaced else ""
    line += f"; signature by {done.verified_key} verified" if done.verified_key else ""
    lines = [line]
    lines += [
        f"note: {printable(p)} also holds patch {printable(e.name)!r}; only the newest runs"
        for p in done.same_name
    ]
    return report, lines


def update_report(folder: str, done, current, failed) -> tuple[dict[str, Any], list[str]]:
    report = {
        "patch_folder": str(Path(folder).absolute()),
        "updated": [
            {
                "name": up.newer.name,
                "from_version": up.current.version,
                "version": up.newer.version,
                "file": str(installed.path),
            }
            for up, installed in done
        ],
        "current": [
            {"name": e.name, "version": e.version, "file": str(f.path)} for f, e in current
        ],
        "failed": [{"name": up.newer.name, "error": error} for up, error in failed],
    }
    lines = [
        f"updated   {printable(up.newer.name)} {up.current.version} → {up.newer.version}"
        for up, _ in done
    ]
    lines += [f"current   {printable(e.spec)}" for _, e in current]
    if not lines and not failed:
        lines = ["nothing from this catalogue is installed there"]
    return report, lines
