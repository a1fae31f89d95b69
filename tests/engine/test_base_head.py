"""The host-side base head gives the OpenCL pass's own probabilities from pooled features."""

from __future__ import annotations

import numpy as np

from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.image_io import decode_image


def test_head_matches_the_opencl_pass_on_real_photos(base_network, photos, sample_data):
    images = list(photos.values()) + [
        decode_image(p) for p in sorted(sample_data.glob("*.jpg"))[::8]
    ]
    out = base_network.run(images)
    head = BaseHead.for_base(base_network)
    probs = head.probabilities(out.features)
    np.testing.assert_allclose(probs, out.probabilities, atol=1e-5)
    assert (head.top_k(out.features, 1)[:, 0] == out.probabilities.argmax(axis=1)).all()
    top5 = head.top_k(out.features, 5)
    expected = np.argsort(-out.probabilities, axis=1)[:, :5]
    assert (top5 == expected).all()
    assert head.top_tags(out.features[:1], 1)[0][0] in base_network.classes.tags
