"""Every reader of outside data, fuzzed: it accepts an input or refuses it with its own error.

Inputs are real seeds (a patch, a snapshot, a map, PNG/JPEG photos) with hypothesis-chosen
byte edits or header-field edits, and wholly arbitrary bytes and text. A target raising
anything but its reader's error type fails the test (see fuzz_targets.py).
"""

from __future__ import annotations

import random

import pytest
from fuzz_targets import TARGETS, mutate, mutate_header, mutate_payload
from hypothesis import given
from hypothesis import strategies as st

SEEDS = {name: seeds() for name, (_, seeds, _) in TARGETS.items()}


@pytest.mark.parametrize("name", sorted(TARGETS))
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 8), which=st.integers(0, 3))
def test_byte_mutations_are_accepted_or_refused(name, seed, steps, which):
    target, _, _ = TARGETS[name]
    seeds = SEEDS[name]
    data = mutate(seeds[which % len(seeds)], random.Random(seed), steps)
    assert target(data) in ("ok", "refused")


@pytest.mark.parametrize("name", ["patch", "snapshot"])
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 4))
def test_header_field_edits_are_accepted_or_refused(name, seed, steps):
    target, _, _ = TARGETS[name]
    assert target(mutate_header(SEEDS[name][0], random.Random(seed), steps)) in ("ok", "refused")


@pytest.mark.parametrize("name", ["patch", "snapshot"])
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 4))
def test_resigned_payload_edits_are_accepted_or_refused(name, seed, steps):
    target, _, _ = TARGETS[name]
    assert target(mutate_payload(SEEDS[name][0], random.Random(seed), steps)) in ("ok", "refused")


@pytest.mark.parametrize("name", sorted(TARGETS))
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_are_refused_or_accepted(name, data):
    target, _, _ = TARGETS[name]
    assert target(data) in ("ok", "refused")


@given(text=st.text(max_size=2000))
def test_arbitrary_map_text(text):
    assert TARGETS["map"][0](text.encode("utf-8", "surrogatepass")) in ("ok", "refused")


def test_the_seeds_themselves_are_accepted():
    for name, (target, _, _) in TARGETS.items():
        assert [target(s) for s in SEEDS[name]] == ["ok"] * len(SEEDS[name]), name
