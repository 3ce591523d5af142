"""The inside view's numbers: on a tiny model with known weights, the feature maps and Grad-CAM equal a direct
NumPy computation; MLPs get their first Dense layer as images; bad input gets a message naming the problem."""

import numpy as np
import pytest

from tui.core import inside
from tui.core.inside import InspectError

H = W = 5  # input 5x5x1 -> conv 3x3 valid (2 filters) -> 3x3x2 -> Flatten(18) -> Dense(3, softmax)


def tiny_cnn():
    import keras

    inp = keras.Input((H, W, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(3, activation="softmax", name="classes")(x)
    model = keras.Model(inp, out, name="tiny")
    rng = np.random.default_rng(7)
    kernel = rng.normal(size=(3, 3, 1, 2)).astype(np.float32)
    conv_bias = np.array([0.1, -0.2], np.float32)
    dense = rng.normal(size=(18, 3)).astype(np.float32)
    dense_bias = np.array([0.0, 0.5, -0.5], np.float32)
    model.set_weights([kernel, conv_bias, dense, dense_bias])
    return model, kernel, conv_bias, dense, dense_bias


def numpy_conv_relu(img, kernel, bias):
    out = np.zeros((H - 2, W - 2, kernel.shape[3]))
    for i in range(H - 2):
        for j in range(W - 2):
            patch = img[i:i + 3, j:j + 3, :]
            out[i, j] = np.tensordot(patch, kernel, axes=([0, 1, 2], [0, 1, 2])) + bias
    return np.maximum(out, 0.0)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(3).integers(0, 256, size=(H, W, 1), dtype=np.uint8)


def test_feature_maps_equal_a_direct_convolution_most_active_channel_first(image):
    model, kernel, bias, *_ = tiny_cnn()
    (maps,) = inside.feature_maps(model, image)
    direct = numpy_conv_relu(image.astype(np.float64), kernel.astype(np.float64), bias)
    assert maps.layer == "conv" and maps.shape == (3, 3, 2)
    np.testing.assert_allclose(maps.maps, direct, rtol=1e-5, atol=1e-3)
    assert maps.order[0] == int(np.argmax(direct.mean(axis=(0, 1))))


def test_grad_cam_equals_the_direct_computation_for_the_predicted_and_the_true_class(image):
    model, kernel, bias, dense, dense_bias = tiny_cnn()
    a = numpy_conv_relu(image.astype(np.float64), kernel.astype(np.float64), bias)
    logits = a.reshape(-1) @ dense + dense_bias
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    pred = int(np.argmax(probs))
    true = (pred + 1) % 3

    def direct_cam(c):
        alpha = dense[:, c].reshape(3, 3, 2).mean(axis=(0, 1))  # d logit_c / dA is the Dense column
        cam = np.maximum((a * alpha).sum(axis=2), 0.0)
        return cam / cam.max() if cam.max() > 0 else cam

    view = inside.compute_view(model, image, ["zero", "one", "two"], true_class=true)
    assert [c.which for c in view.cams] == ["predicted", "true"]
    assert [c.class_index for c in view.cams] == [pred, true]
    for cam in view.cams:
        np.testing.assert_allclose(cam.heat, direct_cam(cam.class_index), atol=1e-4)
        assert cam.overlay.shape == (H, W, 3)
        assert cam.probability == pytest.approx(probs[cam.class_index], abs=1e-5)
    assert view.top[0] == (["zero", "one", "two"][pred], pytest.approx(probs[pred], abs=1e-5))
    assert [p for _, p in view.top] == sorted((p for _, p in view.top), reverse=True)


def test_the_true_class_gets_no_second_heatmap_when_the_prediction_is_right(image):
    model, *_ = tiny_cnn()
    pred = inside.compute_view(model, image, ["a", "b", "c"]).predicted
    view = inside.compute_view(model, image, ["a", "b", "c"], true_class=pred)
    assert [c.which for c in view.cams] == ["predicted"]


def test_first_layer_filters_are_the_kernels_as_images_colour_for_rgb_input():
    import keras

    inp = keras.Input((6, 6, 3))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(
        keras.layers.Flatten()(keras.layers.Conv2D(4, 3, name="c1")(inp))))
    title, tiles = inside.first_layer_filters(model)
    assert len(tiles) == 4 and "4 filters 3x3x3" in title and "colour" in title
    k = model.get_layer("c1").get_weights()[0][..., 1]
    expected = np.rint((k - k.min()) / (k.max() - k.min()) * 255).astype(np.uint8)
    np.testing.assert_array_equal(tiles[1].image, expected)


def test_an_mlp_gets_its_first_dense_layer_as_images_and_no_grad_cam():
    import keras

    inp = keras.Input((4, 4, 1))
    x = keras.layers.Dense(3, name="hidden")(keras.layers.Flatten()(inp))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x), name="mlp")
    view = inside.compute_view(model, np.zeros((4, 4, 1), np.uint8), ["a", "b"])
    assert len(view.filters) == 3 and view.filters[0].image.shape == (4, 4, 3)
    assert "no convolution" in view.filters_title and view.cams == () and view.maps == ()
    assert any("no convolution" in n for n in view.notes)
    w = model.get_layer("hidden").get_weights()[0][:, 2].reshape(4, 4)
    np.testing.assert_array_equal(view.filters[2].image, inside.diverging(w))  # red positive, blue negative
    with pytest.raises(InspectError, match="no convolutional layer: Grad-CAM needs one"):
        inside.grad_cam(model, np.zeros((4, 4, 1), np.uint8), [0])
    with pytest.raises(InspectError, match="no convolutional layer, so there are no feature maps"):
        inside.feature_maps(model, np.zeros((4, 4, 1), np.uint8))


def test_an_unreadable_image_file_is_named_with_the_reason(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(InspectError, match="notes.png: not an image Pillow can read"):
        inside.choose_file(bad, (8, 8, 1))
    with pytest.raises(InspectError, match="missing.png: no such file"):
        inside.choose_file(tmp_path / "missing.png", (8, 8, 1))


def test_an_image_of_the_wrong_shape_is_refused_with_both_shapes(image):
    model, *_ = tiny_cnn()
    with pytest.raises(InspectError, match="the image is 4x4x1, the model takes 5x5x1"):
        inside.compute_view(model, np.zeros((4, 4, 1), np.uint8), ["a", "b", "c"])


def test_the_tap_snapshots_weights_only_while_the_view_is_open():
    import keras

    model, *_ = tiny_cnn()
    from tui.core.keras.inside import InsideSnapshot

    tap = inside.InsideTap()
    cb = InsideSnapshot(tap)
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_end(0, {})
    assert tap.latest() is None and tap.snapshots == 0
    tap.open()
    cb.on_epoch_end(1, {})
    snap = tap.latest()
    assert snap is not None and snap.epoch == 2
    for a, b in zip(snap.weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.layers[1].kernel.assign(np.zeros((3, 3, 1, 2), np.float32))  # training goes on; the copy does not move
    assert np.abs(snap.weights[0]).sum() > 0
    rebuilt = inside.SnapshotModel().load(snap)
    assert isinstance(rebuilt, keras.Model)
    np.testing.assert_array_equal(rebuilt.get_weights()[0], snap.weights[0])
