"""Heat-maps on real photos through the real base pass: the maths, the geometry, occlusion."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.heatmap import (
    GridGeometry,
    Heatmap,
    Subject,
    base_classifier,
    base_head,
    cam_geometry,
    class_activation_map,
    crop_box,
    patch_head,
    receptive_field_centres,
)
from neuralpatch.engine.heatmap_image import (
    GalleryTile,
    gallery_sheet,
    tile_picture,
    write_heatmap_png,
)
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.occlusion import occlusion_maps
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.preprocess import centre_crop_resize

CANVAS_RGB = (236, 234, 228)


@pytest.fixture(scope="module")
def classifier(base_network):
    return base_classifier(base_network.files)


@pytest.fixture(scope="module")
def felix_system(base_network, felix_patch) -> PatchSystem:
    system = PatchSystem.for_base(base_network)
    system.add("felix-cats.specialneurons", felix_patch)
    return system


@pytest.fixture(scope="module")
def felix_photos(sample_data) -> list[np.ndarray]:
    return [decode_image(p) for p in sorted(sample_data.glob("n*.jpg"))[::5]]


def pasted(photo: np.ndarray, canvas_hw: tuple[int, int], long_side: int, corner: str, topology):
    """`photo` shrunk into a corner of the square the base pass sees, on a plain canvas."""
    canvas = np.empty((*canvas_hw, 3), np.uint8)
    canvas[:] = CANVAS_RGB
    x0, y0, x1, y1 = crop_box(*canvas_hw, topology)
    scale = long_side / max(photo.shape[:2])
    small = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)))
    h, w = small.shape[:2]
    x = x0 if "left" in corner else x1 - w
    y = y0 if "top" in corner else y1 - h
    canvas[y : y + h, x : x + w] = small
    return canvas, (x, y, x + w, y + h)


def inside(point, rect) -> bool:
    return rect[0] <= point[0] < rect[2] and rect[1] <= point[1] < rect[3]


def test_the_features_are_the_mean_of_the_feature_map(base_network, photos):
    out = base_network.run(list(photos.values()))
    np.testing.assert_allclose(out.feature_map.mean(axis=(1, 2)), out.features, atol=1e-5)


def test_base_cam_mean_is_the_logit_minus_bias(base_network, photos, classifier):
    out = base_network.run(list(photos.values()))
    logits = out.features @ classifier[0].T + classifier[1]
    # The head is the network's own: its soft-max is the probabilities the pass returned.
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), out.probabilities, atol=1e-5)
    for i, image in enumerate(photos.values()):
        k = int(out.probabilities[i].argmax())
        heat = class_activation_map(
            out.feature_map[i],
            base_head(classifier, base_network.classes, k),
            cam_geometry(image.shape, base_network.topology),
        )
        assert heat.grid.shape == (7, 7)
        assert heat.grid.mean() == pytest.approx(logits[i, k] - classifier[1][k], abs=1e-4)
        assert heat.logit == pytest.approx(logits[i, k], abs=1e-4)


def test_patch_cam_mean_is_the_patch_logit_minus_bias(base_network, felix_system, felix_photos):
    out = base_network.run(felix_photos)
    checked = 0
    for i, image in enumerate(felix_photos):
        tree = felix_system.classify(out.probabilities[i], out.features[i])
        for _, result in tree.walk():
            patch = result.loaded.patch
            logits = patch.weights @ out.features[i] + patch.bias
            for k in range(len(patch.outputs)):
                heat = class_activation_map(
                    out.feature_map[i],
                    patch_head(result, k),
                    cam_geometry(image.shape, base_network.topology),
                )
                assert heat.grid.mean() == pytest.approx(logits[k] - patch.bias[k], abs=1e-4)
            checked += 1
    assert checked >= len(felix_photos) // 2  # most cat photos trigger the cats patch


def test_numpy_reference_and_opencl_give_the_same_map(
    base_network, reference_network, photos, classifier
):
    image = photos["chelsea"]
    maps = []
    for network in (base_network, reference_network):
        out = network.run([image])
        head = base_head(classifier, network.classes, int(out.probabilities[0].argmax()))
        maps.append(
            class_activation_map(
                out.feature_map[0], head, cam_geometry(image.shape, network.topology)
            )
        )
    assert maps[0].subject == maps[1].subject
    np.testing.assert_allclose(maps[0].grid, maps[1].grid, atol=2e-3, rtol=1e-4)
    assert maps[0].peak() == pytest.approx(maps[1].peak(), abs=0.5)


def test_receptive_field_centres_follow_same_padding(base_network):
    # Five stride-2 layers: 32 px a cell; each shifts its grid half an input pixel to the
    # bottom-right (the odd padding pixel goes after), 0.5·(1 + 2 + 4 + 8 + 16) = 15.5 px.
    assert receptive_field_centres(base_network.topology) == ((32.0, 32.0), (15.5, 15.5))


@pytest.mark.parametrize("shape", [(300, 451), (451, 300), (400, 400), (224, 224)])
def test_box_is_the_square_the_base_pass_sees(base_network, photos, shape):
    image = cv2.resize(photos["chelsea"], (shape[1], shape[0]))
    x0, y0, x1, y1 = crop_box(*shape, base_network.topology)
    assert x1 - x0 == y1 - y0 and 0 <= x0 and 0 <= y0 and x1 <= shape[1] and y1 <= shape[0]
    seen = Image.fromarray(image[y0:y1, x0:x1]).resize((224, 224), Image.Resampling.BICUBIC)
    expected = image if shape == (224, 224) else centre_crop_resize(image, (224, 224))
    np.testing.assert_array_equal(np.asarray(seen), expected)


@pytest.mark.parametrize("shape", [(300, 451), (451, 300), (400, 400)])
def test_peak_maps_a_hot_cell_back_to_the_original_image(base_network, shape):
    geometry = cam_geometry(shape, base_network.topology)
    x0, y0, x1, y1 = geometry.box
    cell = (x1 - x0) / 7
    for row, col in [(3, 3), (1, 5), (5, 2)]:
        grid = np.zeros((7, 7), np.float32)
        grid[row, col] = 1.0
        heat = Heatmap(Subject("base", 0, "t", "t"), "cam", grid, geometry, 0.0, 0.0)
        x, y = heat.peak()  # a symmetric peak: exactly the cell's receptive-field centre
        assert x == pytest.approx(x0 + (col * 32 + 31.5) * cell / 32)
        assert y == pytest.approx(y0 + (row * 32 + 31.5) * cell / 32)
        grid[row, col + 1] = 0.5  # a hotter right neighbour pulls the peak right, < half a cell
        shifted = Heatmap(Subject("base", 0, "t", "t"), "cam", grid, geometry, 0.0, 0.0).peak()
        assert x < shifted[0] < x + cell / 2 and shifted[1] == pytest.approx(y)


def test_upsampled_map_holds_each_cell_value_at_its_centre(base_network):
    geometry = cam_geometry((448, 448), base_network.topology)
    grid = np.arange(49, dtype=np.float32).reshape(7, 7)
    heat = Heatmap(Subject("base", 0, "t", "t"), "cam", grid, geometry, 0.0, 0.0)
    side = geometry.box[2] - geometry.box[0]
    raster = heat.upsample(side, side)
    for row, col in [(2, 2), (3, 4), (5, 1)]:
        x, y = geometry.to_original(row + 0.5, col + 0.5)
        px, py = int(x - geometry.box[0]), int(y - geometry.box[1])
        assert raster[py, px] == pytest.approx(grid[row, col], abs=0.6)


@pytest.mark.parametrize(
    ("shape", "corner"),
    [((480, 720), "top-left"), ((720, 480), "bottom-right"), ((600, 600), "top-right")],
)
def test_cam_peak_lands_on_a_cat_pasted_into_a_corner(
    base_network, photos, classifier, shape, corner
):
    side = round(min(shape) * 0.875)
    canvas, rect = pasted(photos["chelsea"], shape, side // 2, corner, base_network.topology)
    out = base_network.run([canvas])
    k = int(out.probabilities[0].argmax())
    assert base_network.classes.names[k] in ("tabby", "tiger_cat", "Egyptian_cat")
    heat = class_activation_map(
        out.feature_map[0],
        base_head(classifier, base_network.classes, k),
        cam_geometry(canvas.shape, base_network.topology),
    )
    assert inside(heat.peak(), rect)


def test_occlusion_and_cam_agree_where_the_cat_is(base_network, photos, classifier):
    canvas, rect = pasted(photos["chelsea"], (640, 640), 260, "bottom-left", base_network.topology)
    out = base_network.run([canvas])
    k = int(out.probabilities[0].argmax())
    head = base_head(classifier, base_network.classes, k)
    cam = class_activation_map(
        out.feature_map[0], head, cam_geometry(canvas.shape, base_network.topology)
    )
    (occlusion,) = occlusion_maps(base_network, canvas, [head], size=64, stride=40)
    assert occlusion.grid.shape == (5, 5) and occlusion.box == cam.box
    assert inside(cam.peak(), rect) and inside(occlusion.peak(), rect)
    x0, y0, x1, y1 = cam.box
    a, b = (m.upsample(y1 - y0, x1 - x0).ravel() for m in (cam, occlusion))
    assert np.corrcoef(a, b)[0, 1] > 0.5


def test_heatmap_dict_is_strict_json(base_network, photos, classifier, tmp_path):
    image = photos["coffee"]
    out = base_network.run([image])
    k = int(out.probabilities[0].argmax())
    heat = class_activation_map(
        out.feature_map[0],
        base_head(classifier, base_network.classes, k),
        cam_geometry(image.shape, base_network.topology),
    )
    png = write_heatmap_png(tmp_path / "coffee.png", image, heat, "espresso")
    item = json.loads(json.dumps(heat.to_dict(str(png)), allow_nan=False))
    assert set(item) >= {"grid", "box", "peak", "png", "logit", "bias", "output"}
    assert np.mean(item["grid"]) == pytest.approx(item["logit"] - item["bias"], abs=1e-4)
    assert item["output"]["name"] == "espresso" and inside(item["peak"], item["box"])
    with Image.open(item["png"]) as picture:
        assert picture.format == "PNG" and picture.width > image.shape[1]  # + the colour bar
    assert list(tmp_path.iterdir()) == [Path(png)]  # written atomically: no temp file left


def test_gallery_sheet_holds_every_tile(base_network, photos, classifier):
    tiles = []
    for name, image in photos.items():
        out = base_network.run([image])
        k = int(out.probabilities[0].argmax())
        head = base_head(classifier, base_network.classes, k)
        heat = class_activation_map(
            out.feature_map[0], head, cam_geometry(image.shape, base_network.topology)
        )
        tiles.append(GalleryTile(tile_picture(image, heat, 100), name, "detail"))
    sheet = gallery_sheet(tiles * 3, "six tiles", tile_side=100)
    assert sheet.shape[1] == 4 * 108 + 8 and sheet.shape[0] > 2 * 100
    assert sheet[:, :, :].std() > 10  # photos, not an empty canvas


def test_geometry_round_trip_is_affine():
    geometry = GridGeometry((10, 20, 110, 120), (224, 224), (32.0, 32.0), (15.5, 15.5))
    assert geometry.to_original(0, 0) == pytest.approx((10 + 15.5 * 100 / 224, 20 + 15.5 / 2.24))
    map_x, map_y = geometry.sample_maps(224, 224)
    assert map_x[0, 31] == pytest.approx((31.5 - 15.5) / 32 - 0.5)
    assert map_y[127, 0] == pytest.approx(3.0)
