"""Files that share a patch name but not its outputs: likely two different patches.

The patch system runs only the newest file of a name (the others are "superseded"), which is
right for successive saves of one patch and wrong for two patches that were both defaulted
to, say, "train". Telling them apart by their outputs makes that mistake visible.
"""

from __future__ import annotations

from collections.abc import Iterable

from neuralpatch.engine.patch_index import LoadedPatch


def name_collisions(patches: Iterable[LoadedPatch]) -> list[str]:
    """One warning per name whose files answer different output sets."""
    by_name: dict[str, dict[tuple[str, ...], list[str]]] = {}
    for p in patches:
        outputs = tuple(sorted(o.tag for o in p.patch.outputs))
        by_name.setdefault(p.name, {}).setdefault(outputs, []).append(p.path.name)
    warnings = []
    for name, variants in by_name.items():
        if len(variants) < 2:
            continue
        files = "; ".join(
            f"{', '.join(sorted(files))} answer {' '.join(tags)}"
            for tags, files in variants.items()
        )
        warnings.append(
            f"{len(variants)} different patches are all named {name!r}, so only the newest "
            f"runs and the others are disabled as superseded ({files}); retrain one with "
            "--name to tell them apart"
        )
    return warnings
