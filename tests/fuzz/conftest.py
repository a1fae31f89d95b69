"""Hypothesis profiles: `ci` (the default, a few hundred examples per reader) and `long`.

`HYPOTHESIS_PROFILE=long python -m pytest tests/fuzz` runs 20,000 examples per test; the
campaign in `campaign.py` is the way to run hundreds of thousands and count failures.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,  # a loaded CI machine is slow, and a slow input is not a failure
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=20_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
