"""What the teach screen writes: the taught patch's outputs with keys, the rates, the status."""

from __future__ import annotations

from rich.text import Text

from neuralpatch.engine.online_trainer import Published
from neuralpatch.engine.teach_answer import TeachAnswer, TeachOutput

BAR_WIDTH = 10
MAX_KEYED = 9  # keys 1…9


def output_key(k: int, output: TeachOutput) -> str:
    """The key that labels output k: `b` for the background, `1`…`9` for the others."""
    if output.background:
        return "b"
    return str(k + 1) if k < MAX_KEYED else " "


def output_lines(
    outputs: tuple[TeachOutput, ...],
    published: Published,
    answer: TeachAnswer | None,
    name_width: int = 22,
) -> Text:
    """One line per output: its key, name, photo count and the live probability bar
    (`name_width` cells of name: fewer on a narrow terminal, so a line never wraps)."""
    text = Text()
    for k, o in enumerate(outputs):
        p = None
        if answer is not None and k < len(answer.probabilities):
            p = float(answer.probabilities[k])
        top = answer is not None and answer.index == k
        count = published.counts[k] if k < len(published.counts) else 0
        text.append(f"{output_key(k, o)} ", style="bold reverse")
        text.append(f" {o.name[:name_width]:<{name_width}}", style="bold" if top else "")
        text.append(f" {count:>4}", style="dim")
        if p is not None:
            filled = round(p * BAR_WIDTH)
            text.append(f" {'█' * filled}{'·' * (BAR_WIDTH - filled)} {p:4.0%}")
        text.append("\n")
    text.rstrip()
    return text


def answer_line(answer: TeachAnswer | None) -> str:
    """The taught patch's answer as the plugin would give it (end to end)."""
    if answer is None:
        return "taught patch: waiting for a frame"
    if not answer.triggered:
        return "taught patch: not triggered (the base class is none of its triggers)"
    if answer.abstained:
        return f"taught patch: none ({answer.probabilities[answer.index]:.0%} background)"
    o = answer.outputs[answer.index]
    return f"taught patch: {o.name} {answer.probabilities[answer.index]:.0%}"


def rates_line(published: Published) -> str:
    r = published.rates
    scope = "new labels only" if published.new_only else "everything"
    state = "paused" if published.paused else "training"
    return f"lr {r.lr:.3g} (↑/↓) · decay {r.decay:.3g} (←/→) · on {scope} (t) · {state} (p)"


def status_line(
    outputs: tuple[TeachOutput, ...], published: Published, rolling: tuple[int, int]
) -> str:
    """Labels per category, steps/s and the rolling "right before you labelled it" rate."""
    new = " ".join(
        f"{o.name[:12]} {n}" for o, n in zip(outputs, published.new_counts, strict=False)
    )
    right, labels = rolling
    rate = f"{right}/{labels} = {right / labels:.0%}" if labels else "no labels yet"
    return (
        f"right before you labelled it (last {labels}, end to end): {rate} · "
        f"{published.steps_per_s:,.0f} steps/s, step {published.step:,} · labelled now: {new}"
    )
