"""The training app shows what `eval --split val` shows: stop-N-show draws the last image's
heat-map beside it; ^o (and v in stop-N-show) lists per-class accuracy, the confusion matrix
with its "did not trigger" column and the misclassified validation photos, which open."""

from __future__ import annotations

import numpy as np
from pilot_helpers import run_async, wait_for, wait_for_screen
from test_train_accuracy import low_coverage_copy
from textual.widgets import OptionList, Static

from neuralpatch.engine.end_to_end_validation import report_lines
from neuralpatch.tui.dialogs import InferenceDialog, ReconfigureDialog
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.loss_log import LossLog
from neuralpatch.tui.train_screen import TrainScreen
from neuralpatch.tui.validation_dialog import NOT_TRIGGERED, MissDialog, ValidationDialog


async def train_a_little(pilot, app) -> None:
    await pilot.press("ctrl+t")
    await wait_for_screen(pilot, ReconfigureDialog)
    await pilot.press("y")
    await wait_for(pilot, lambda: app.train_screen.trainer.state.step > 20, "training steps")


@run_async
async def test_stop_n_show_draws_the_heat_map_beside_the_image(train_app):
    app = train_app("--name", "cats")
    async with app.run_test(size=(80, 24)) as pilot:
        await train_a_little(pilot, app)
        await pilot.press("ctrl+n")
        await wait_for_screen(pilot, InferenceDialog)
        dialog = app.screen
        await wait_for(pilot, lambda: dialog.explained is not None, "the heat-map")
        sample, heat = dialog.sample, dialog.explained.heatmap
        assert heat.subject.index == sample.predicted_index  # the map of what it answered
        assert heat.subject.name == app.train_screen.trainer.outputs[sample.predicted_index].name
        # a CAM of a GAP-linear head averages to the patch's logit, bias aside
        assert np.isclose(heat.grid.mean() + heat.bias, heat.logit, atol=1e-4)
        view = dialog.query_one("#inference-heat", ImageView)
        assert view.image is not None and view.image.shape == sample.image.shape
        assert view.caption.startswith("heat: cats → ") and view._layer is not None
        # the per-class table and confusion matrix keep their rows whole in the 80-column log
        logged = [strip.text.rstrip() for strip in app.train_screen.query_one(LossLog).lines]
        table = [line.rstrip() for line in app.train_screen.trainer.validation_lines()]
        assert any("confusion" in line for line in table)
        assert all(line in logged for line in table)
        await pilot.press("v")  # the validation results from inside stop-N-show
        await wait_for_screen(pilot, ValidationDialog)
        await pilot.press("escape")
        await wait_for_screen(pilot, InferenceDialog)


@run_async
async def test_validation_results_and_a_misclassified_photo_open(train_app, sample_data, tmp_path):
    data = low_coverage_copy(sample_data, tmp_path / "cats")  # half the photos never trigger
    app = train_app("--name", "cats", data=data)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = app.train_screen
        assert screen.check_action("validation", ()) is False  # nothing to score yet
        await train_a_little(pilot, app)
        await pilot.press("ctrl+o")
        await wait_for_screen(pilot, ValidationDialog)
        dialog = app.screen
        assert screen.phase == "showing"  # training waits while the results are open
        step = screen.trainer.state.step
        validation = screen.trainer.validation()
        shown = str(dialog.query_one("#validation-tables Static", Static).render())
        assert shown == "\n".join(report_lines(validation.report))
        assert "did not trigger" in shown
        summary = str(dialog.query_one("#validation-summary", Static).render())
        assert f"end to end {validation.end_to_end:.1%}" in summary
        misses = dialog.query_one(OptionList)
        assert misses.option_count == len(validation.wrong) > 0
        untriggered = [i for i, m in enumerate(dialog.results.misses) if m.guess == 3]
        assert untriggered  # the low-coverage set has photos the patch never sees
        first = untriggered[0]
        assert NOT_TRIGGERED in str(misses.get_option_at_index(first).prompt)
        misses.highlighted = first
        await pilot.press("enter")
        await wait_for_screen(pilot, MissDialog)
        photo = app.screen
        await wait_for(pilot, lambda: photo.explained is not None, "the photo's heat-map")
        facts = str(photo.query_one("#miss-facts", Static).render())
        miss = dialog.results.misses[first]
        assert f"label: {screen.trainer.outputs[miss.true_index].name}" in facts
        assert f"patch: {NOT_TRIGGERED}" in facts and "(would answer, if it triggered)" in facts
        assert f"base:  {photo.explained.base_name}" in facts
        # The base network's answer is not one of the patch's triggers: why it did not fire.
        assert photo.explained.base_tag not in screen.trainer.dataset.triggers
        assert photo.query_one("#miss-image", ImageView).image is not None
        await pilot.press("escape", "escape")
        await wait_for_screen(pilot, TrainScreen)
        await wait_for(pilot, lambda: screen.trainer.state.step > step, "training to carry on")
