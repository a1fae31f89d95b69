"""How the forward pass lays the network out: which layers one kernel runs (fusion), and which
activation buffer each layer's output lives in (reuse once nothing reads it any more)."""

from __future__ import annotations

from collections.abc import Sequence

from neuralpatch.engine.topology import Layer

Group = tuple[str, tuple[int, ...]]  # (kernel kind, the layers it computes)


def fuse_layers(layers: Sequence[Layer], kept: Sequence[int]) -> list[Group]:
    """(kind, layers) per kernel: a depthwise conv read only by the next 1x1 conv fuses.

    Layers in `kept` are read back by the host, so they are never fused away.
    """
    read_elsewhere = {layer.add for layer in layers if layer.add}
    groups, i = [], 0
    while i < len(layers):
        layer = layers[i]
        if (
            layer.kind == "dwconv"
            and i + 1 < len(layers)
            and layers[i + 1].kind == "pwconv"
            and layer.name not in read_elsewhere
            and i not in kept
        ):
            groups.append(("dwproject", (i, i + 1)))
            i += 2
        else:
            groups.append((layer.kind, (i,)))
            i += 1
    return groups


def activation_slots(layers: Sequence[Layer], groups: Sequence[Group], kept: Sequence[int]):
    """Activation slot of each layer's output; a slot is reused once nothing reads it."""
    names = {layer.name: i for i, layer in enumerate(layers)}
    last_use = list(range(1, len(layers) + 1))
    for i in kept:
        last_use[i] = len(layers)
    for _, group in groups:  # a fused kernel reads its input until its last layer
        if group[0]:
            last_use[group[0] - 1] = max(last_use[group[0] - 1], group[-1])
    for i, layer in enumerate(layers):
        if layer.add:
            last_use[names[layer.add]] = max(last_use[names[layer.add]], i)
    slots: list[int] = []
    free: list[int] = []
    live: dict[int, int] = {}
    for i in range(len(layers)):
        slot = free.pop() if free else len(set(slots))
        slots.append(slot)
        live[i] = slot
        for j in [j for j in live if last_use[j] <= i]:
            free.append(live.pop(j))
    return slots
