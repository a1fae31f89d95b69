"""Which loaded patches run: one file per patch name, and none on a trigger cycle.

Both rules only ever disable a patch, with a reason that `neuralpatch patches` and the
camera screen show (the file that wins a name says why in `chosen`); `patch_index.build_index`
applies them before indexing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from neuralpatch.engine.class_map import tag_key
from neuralpatch.engine.loaded_patch import LoadedPatch


def supersede_by_name(
    patches: list[LoadedPatch],
    now: datetime | None = None,
    pinned: Mapping[Path, str] | None = None,
) -> list[LoadedPatch]:
    """A patch name identifies a patch: of several files with one name, one runs.

    A file the user pinned for its name (`pinned`: path -> patch name, see patch_pins.py)
    runs. Otherwise the newest by `created`, but only a believable one: a time later than the
    file's own modification time (when it was written or copied here, which the user
    controls) or than the clock, each by more than FUTURE_SLACK, is a claim anyone can write
    into a shared file. Such a file loses to every file with a believable time, whatever it
    claims, so a plugin dated 2099 can never take over the user's own patch of the same name.
    The file that runs says why in `chosen`, the others in `disabled`.
    """
    now, pinned = now or datetime.now(UTC), pinned or {}
    groups: dict[str, list[LoadedPatch]] = {}
    for p in patches:
        groups.setdefault(p.name, []).append(p)
    newest = {
        name: max(group, key=lambda p: _rank(p, now, pinned)) for name, group in groups.items()
    }
    out = []
    for p in patches:
        winner, group = newest[p.name], groups[p.name]
        if len(group) == 1:
            out.append(p)
        elif winner is p:
            out.append(replace(p, chosen=_why_chosen(p, group, now, pinned)))
        else:
            out.append(replace(p, disabled=_why(p, winner, now, pinned)))
    return out


FUTURE_SLACK = timedelta(days=1)  # clock skew between machines is not a lie


def _created(p: LoadedPatch) -> datetime:
    return datetime.fromisoformat(p.patch.created)


def _modified(p: LoadedPatch) -> datetime | None:
    return None if p.signature is None else datetime.fromtimestamp(p.signature[0] / 1e9, UTC)


def _future_claim(p: LoadedPatch, now: datetime) -> str | None:
    """Why `created` is not believable, or None when it is."""
    created, modified = _created(p), _modified(p)
    if created > now + FUTURE_SLACK:
        return "lies in the future"
    if modified is not None and created > modified + FUTURE_SLACK:
        return f"is later than the file was written here ({modified:%Y-%m-%d %H:%M} UTC)"
    return None


def _is_pinned(p: LoadedPatch, pinned: Mapping[Path, str]) -> bool:
    return pinned.get(p.path) == p.name  # a pinned file that now holds another name: no pin


def _rank(
    p: LoadedPatch, now: datetime, pinned: Mapping[Path, str]
) -> tuple[bool, bool, datetime, int, str]:
    believable = _future_claim(p, now) is None
    when = _created(p) if believable else (_modified(p) or now)
    mtime = p.signature[0] if p.signature else 0
    return (_is_pinned(p, pinned), believable, when, mtime, p.path.name)


def _why_chosen(
    p: LoadedPatch, group: list[LoadedPatch], now: datetime, pinned: Mapping[Path, str]
) -> str:
    others = len(group) - 1
    files = f"{others} other file{'s' if others > 1 else ''} with this patch name"
    if _is_pinned(p, pinned):
        return f"pinned here by the user: runs instead of the {files}"
    text = f"the newest of {others + 1} files with this patch name (by created time)"
    ignored = [q.path.name for q in group if _future_claim(q, now) is not None]
    if ignored:
        text += f"; the future created time of {', '.join(ignored)} was ignored"
    return text


def _why(loser: LoadedPatch, winner: LoadedPatch, now: datetime, pinned: Mapping[Path, str]) -> str:
    if _is_pinned(winner, pinned):
        return f"superseded by {winner.path.name}, which the user pinned for this patch name"
    text = f"superseded by {winner.path.name} (same patch name, created {winner.patch.created}"
    if (claim := _future_claim(loser, now)) is not None:
        return (
            f"{text}): this file's created time {loser.patch.created} {claim}, so it is "
            "not newer (future date ignored)"
        )
    if _created(winner) == _created(loser):
        return f"{text}, as this file; that file was written here later)"
    return f"{text}; this file: {loser.patch.created})"


def cycle_reasons(running: list[LoadedPatch]) -> tuple[dict[Path, str], list[tuple[str, ...]]]:
    """Patches on a trigger cycle, with a reason naming the cycle.

    Patch A → B when one of A's output tags is one of B's triggers. A patch whose outputs
    overlap its own triggers (a breed patch triggered by and answering breeds) is no cycle:
    a patch never triggers itself.
    """
    by_trigger: dict[int, list[int]] = {}
    for i, p in enumerate(running):
        for tag in p.patch.triggers:
            by_trigger.setdefault(tag_key(tag), []).append(i)
    edges = [
        sorted({j for o in p.patch.outputs for j in by_trigger.get(tag_key(o.tag), ()) if j != i})
        for i, p in enumerate(running)
    ]
    reasons: dict[Path, str] = {}
    cycles: list[tuple[str, ...]] = []
    for component in _strongly_connected(edges):
        if len(component) < 2:
            continue
        members = set(component)
        loop = _shortest_loop(min(component), edges, members)
        names = tuple(running[i].name for i in loop)
        cycles.append(names)
        text = " → ".join(names)
        others = sorted(running[i].name for i in members - set(loop))
        if others:
            text += f" (the loop also runs through {', '.join(others)})"
        for i in component:
            reasons[running[i].path] = (
                f"in a trigger cycle {text}: each is triggered by the "
                "output of the one before, so none is a master"
            )
    return reasons, cycles


def _strongly_connected(edges: list[list[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative so a long chain of patches cannot hit the recursion limit."""
    index = [-1] * len(edges)
    low = [0] * len(edges)
    on_stack = [False] * len(edges)
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in range(len(edges)):
        if index[root] >= 0:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        calls = [(root, iter(edges[root]))]
        while calls:
            v, successors = calls[-1]
            for w in successors:
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    calls.append((w, iter(edges[w])))
                    break
                if on_stack[w]:
                    low[v] = min(low[v], index[w])
            else:
                calls.pop()
                if calls:
                    low[calls[-1][0]] = min(low[calls[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack[w] = False
                        component.append(w)
                        if w == v:
                            break
                    found.append(component)
    return found


def _shortest_loop(start: int, edges: list[list[int]], members: set[int]) -> list[int]:
    """The shortest path start → … → start inside one strongly connected component."""
    parent: dict[int, int] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in edges[v]:
            if w not in members or w in parent:
                continue
            parent[w] = v
            if w == start:
                path = [start]
                while path[-1] != start or len(path) == 1:
                    path.append(parent[path[-1]])
                return path[::-1]
            queue.append(w)
    return [start, start]  # unreachable for a real component
