"""With many patches firing, the camera screen draws what fits and counts the rest."""

from __future__ import annotations

from types import SimpleNamespace

from neuralpatch.tui.camera_patches import MAX_CASCADE_LINES, cascade_lines, identified_line
from neuralpatch.tui.live_text import MAX_OVERLAYS, overlays_for


def many_firing(count: int) -> SimpleNamespace:
    nodes = [
        SimpleNamespace(
            name=f"patch {i}",
            output_name="big_cat",
            answer_name="big_cat",
            probability=0.5,
            identified=True,
            icon_rgba=None,
        )
        for i in range(count)
    ]
    best = SimpleNamespace(name="tabby", probability=0.4)
    return SimpleNamespace(
        top=[best],
        patches=nodes,
        walk=lambda: ((0, n) for n in nodes),
        count=lambda: len(nodes),  # as ImageResult.count(): the panel counts, never walks all
    )


def test_a_thousand_firing_patches_draw_like_forty():
    result = many_firing(1000)
    lines = cascade_lines(result).plain.splitlines()  # type: ignore[arg-type]
    assert len(lines) == 1 + MAX_CASCADE_LINES + 1
    assert lines[-1] == f"… and {1000 - MAX_CASCADE_LINES} more patches"
    assert identified_line(result).endswith("patch 3: big_cat 50%  ›  +996 more")  # type: ignore[arg-type]
    overlays = overlays_for(SimpleNamespace(result=result))  # type: ignore[arg-type]
    assert [o.label for o in overlays] == [f"patch {i}" for i in range(MAX_OVERLAYS)]


def test_a_few_firing_patches_are_all_drawn():
    result = many_firing(3)
    assert len(cascade_lines(result).plain.splitlines()) == 4  # type: ignore[arg-type]
    assert "more" not in identified_line(result)  # type: ignore[arg-type]
