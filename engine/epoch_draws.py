"""Which training photos each step draws: without replacement within an epoch, reshuffled
each epoch, and reproducible from (seed, samples drawn so far) alone.

That is all a snapshot needs to store for a resumed run to draw exactly what the interrupted
one would have: the order of epoch e depends only on (seed, e).
"""

from __future__ import annotations

import numpy as np


class EpochDraws:
    """Positions into a training split of `size` photos."""

    def __init__(self, seed: int, size: int) -> None:
        self.seed, self.size = seed, size
        self._order: tuple[int, np.ndarray] | None = None  # the epoch under way

    def take(self, n: int, drawn: int) -> np.ndarray:
        """The next `n` positions after `drawn` draws (the caller adds `n` to its count)."""
        picked = np.empty(n, np.int64)
        done = 0
        while done < n:
            epoch, position = divmod(drawn + done, self.size)
            take = min(n - done, self.size - position)
            picked[done : done + take] = self.order(epoch)[position : position + take]
            done += take
        return picked

    def order(self, epoch: int) -> np.ndarray:
        """The permutation of epoch `epoch` (one is kept: epochs are drawn in sequence)."""
        if self._order is None or self._order[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.size)
            self._order = (epoch, order)
        return self._order[1]
