"""Teach mode's state: the patch being taught on a dataset folder, its labels and its saves.

The patch's outputs are the dataset's output categories in map order (and categories added
here, still without photos), plus a real extra output, "background / none of these", that
the patch learns so it can abstain. A label files the frame into the dataset as
`<tag>_<UTC time>.jpg` and trains on its features at once; `OnlineTrainer` keeps training on
everything in the background. UI-free: the teach screen and `neuralpatch teach --headless`
both drive it, from any thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import Category, Dataset, load_dataset
from neuralpatch.engine.dataset_edit import (
    BACKGROUND_NAME,
    add_category,
    delete_photo,
    free_tag,
    relabel_photo,
)
from neuralpatch.engine.errors import DatasetError
from neuralpatch.engine.feature_cache import FeatureCache
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.online_trainer import OnlineTrainer
from neuralpatch.engine.patch_file import PatchOutput
from neuralpatch.engine.patch_model import LinearPatch
from neuralpatch.engine.snap_to_dataset import save_snap
from neuralpatch.engine.teach_answer import LabelRecord, TeachAnswer, TeachOutput
from neuralpatch.engine.teach_files import (
    TeachSaved,
    resume_teach,
    save_teach,
    teach_files,
    teach_icon,
)

ROLLING_LABELS = 50


class TeachSession:
    def __init__(
        self,
        base: BaseNetwork,
        root: str | Path,
        *,
        out_dir: str | Path | None = None,
        patches_dir: str | Path | None = None,
        resume: str | Path | None = None,
        rates: HyperParams | None = None,
        seed: int = 0,
    ):
        self.base = base
        self.root = Path(root).resolve()
        self.out_dir = Path(out_dir).expanduser() if out_dir else self.root.parent
        self.patches_dir = Path(patches_dir).expanduser() if patches_dir else None
        self.seed = seed
        self._lock = threading.RLock()  # one label, edit or save at a time
        dataset = self._load()
        background = _background_of(dataset)
        # A new background row reaches the map with its first photo, so merely opening teach
        # mode never leaves a photo-less row that `neuralpatch train` would refuse.
        self._background_row = background is None
        if background is None:
            tag = free_tag(dataset, base.classes.tags)
            background = Category(tag, 0, BACKGROUND_NAME, 0)
        self.name = self.root.name or "teach"
        self.triggers = frozenset(dataset.triggers)
        kept = [
            c
            for c in sorted(dataset.categories, key=lambda c: c.index)
            if (c.images or not c.is_trigger) and c is not background
        ]
        self.outputs: tuple[TeachOutput, ...] = (
            *(TeachOutput(c.tag, c.name) for c in kept),
            TeachOutput(background.tag, background.name, background=True),
        )
        self._photos = [(c, k) for k, c in enumerate([*kept, background])]
        tags = [o.tag for o in self.outputs]
        if resume:
            r = resume_teach(resume, tags, base.feature_dim, base.fingerprint, seed)
            self.trainer = OnlineTrainer(
                r.patch, r.sgd, r.rates, step=r.step, losses=r.losses, seed=seed
            )
        else:
            patch = LinearPatch.xavier(len(tags), base.feature_dim, np.random.default_rng(seed))
            self.trainer = OnlineTrainer(patch, rates=rates, seed=seed)
        self.records: list[LabelRecord] = []  # newest first
        self.rolling: deque[bool] = deque(maxlen=ROLLING_LABELS)
        self.failed: dict[Path, str] = {}
        self.last_saved: TeachSaved | None = None
        self._saved_step, self._labels_since_save = self.trainer.step, 0

    def _load(self) -> Dataset:
        return load_dataset(self.root, self.base.classes.tag_names(), empty_ok=True)

    # -- set-up ---------------------------------------------------------------------------
    def prepare(
        self,
        on_progress: Callable[[int, int, str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Features of every photo already in the dataset (cached on disk), handed to training."""
        photos = [(p, k) for c, k in self._photos for p in c.images]
        found = FeatureCache(self.base).features_for([p for p, _ in photos], on_progress, stop)
        self.failed = found.failed
        items = [(p, found.features[p], k) for p, k in photos if p in found.features]
        self.trainer.add_many(items)
        by_age = sorted(items, key=lambda item: _mtime(item[0]), reverse=True)
        self.records = [LabelRecord(p, k, f) for p, f, k in by_age]

    def start(self) -> None:
        self.trainer.start()

    def close(self) -> None:
        self.trainer.close()

    # -- answering ------------------------------------------------------------------------
    def answer(self, features: np.ndarray, base_tag: str) -> TeachAnswer:
        """The taught patch's latest weights on one frame's pooled features."""
        for _ in range(3):  # a category added meanwhile: read outputs and weights together
            outputs, published = self.outputs, self.trainer.published
            if len(published.bias) == len(outputs):
                break
        probs = published.probabilities(features)[0][: len(outputs)]
        return TeachAnswer(outputs, probs, base_tag in self.triggers)

    def output_for(self, text: str) -> int | None:
        """An output by name or tag (case-insensitive), `b` for the background; else None."""
        key = text.strip().casefold()
        if key == "b":
            return len(self.outputs) - 1
        for k, o in enumerate(self.outputs):
            if key in (o.tag.casefold(), o.name.casefold()):
                return k
        return None

    # -- labelling and editing ------------------------------------------------------------
    def label(
        self, image: np.ndarray, features: np.ndarray, answer: TeachAnswer | None, output: int
    ) -> LabelRecord:
        """File the frame under `output` and train on it before returning."""
        with self._lock:
            self._map_row_for(output)
            path = save_snap(image, self.root, self.outputs[output].tag)
            right = answer.agrees(output) if answer is not None else None
            record = LabelRecord(path, output, np.asarray(features, np.float32), right)
            self.trainer.add(path, record.features, output, new=True)
            self.records.insert(0, record)
            if right is not None:
                self.rolling.append(right)
            self._labels_since_save += 1
            return record

    def relabel(self, record: LabelRecord, output: int) -> LabelRecord:
        with self._lock:
            self._map_row_for(output)
            new_path = relabel_photo(record.path, self.outputs[output].tag)
            self.trainer.post("move", record.path, new_path, output, wait=True)
            record.path, record.output = new_path, output
            self._labels_since_save += 1
            return record

    def delete(self, record: LabelRecord) -> None:
        """Remove the photo from the dataset and from what the patch trains on."""
        with self._lock:
            delete_photo(record.path)
            self.trainer.post("forget", record.path, wait=True)
            if record in self.records:
                self.records.remove(record)
            self._labels_since_save += 1

    def _map_row_for(self, output: int) -> None:
        if self.outputs[output].background and self._background_row:
            o = self.outputs[output]
            add_category(self._load(), o.name, tag=o.tag)
            self._background_row = False

    def add_category(self, name: str) -> int:
        """A new output from a name: a made-up tag in the map, a new neuron before background."""
        with self._lock:
            taken = [*self.base.classes.tags, self.outputs[-1].tag]
            if name.strip().casefold() == BACKGROUND_NAME:
                raise DatasetError(f"{BACKGROUND_NAME} is the patch's own output (key b)")
            tag, _, clean = add_category(self._load(), name, taken)
            position = len(self.outputs) - 1
            self.trainer.post("insert_output", position, wait=True)
            outputs = list(self.outputs)
            outputs.insert(position, TeachOutput(tag, clean))
            self.outputs = tuple(outputs)
            for record in self.records:
                if record.output >= position:
                    record.output += 1
            return position

    # -- live settings (messages to the training thread) ---------------------------------
    def scale(self, name: str, factor: float) -> None:
        self.trainer.post("scale", name, factor)

    def set_new_only(self, on: bool) -> None:
        self.trainer.post("new_only", on)

    def set_paused(self, on: bool) -> None:
        self.trainer.post("pause", on)

    # -- figures --------------------------------------------------------------------------
    def rolling_rate(self) -> tuple[int, int]:
        """(right, labels) over the last 50 labels: was the answer right before labelling?"""
        marks = list(self.rolling)
        return sum(marks), len(marks)

    @property
    def unsaved(self) -> bool:
        return self._labels_since_save > 0 or self.trainer.published.step != self._saved_step

    # -- saving ---------------------------------------------------------------------------
    def save(self) -> TeachSaved:
        """The full snapshot and the plugin into --out (and --patches)."""
        with self._lock:
            captured = self.trainer.capture()
            plugin, snapshot = teach_files(
                self.name,
                self.root,
                sorted(self.triggers),
                [PatchOutput(o.tag, o.name) for o in self.outputs],
                captured,
                self.trainer.published.rates,
                self.base.fingerprint,
                self._load().to_summary(),
                self.seed,
                teach_icon(r.path for r in self.records if not self.outputs[r.output].background),
            )
            previous = self.last_saved.copies if self.last_saved else []
            self.last_saved = save_teach(plugin, snapshot, self.out_dir, self.patches_dir, previous)
            self._saved_step, self._labels_since_save = captured[2], 0
            return self.last_saved


def _background_of(dataset: Dataset) -> Category | None:
    for c in dataset.categories:
        if c.name.casefold() == BACKGROUND_NAME and not c.is_trigger:
            return c
    return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
