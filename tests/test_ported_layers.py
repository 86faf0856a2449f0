"""Trap tests: each known way a PyTorch port goes wrong, caught against an independent reference (torch or numpy float64).

Each trap has a negative control showing that the obvious Keras choice fails the same check,
so a regression to it cannot pass: ``"same"`` padding on stride-2 convolutions, GroupNorm's epsilon
1e-3, single-reduction float32 statistics on a large map, ``UpSampling2D`` in a LiteRT export.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from keras import ops

from zoo.families.tae import build_network
from zoo.models.ported import GroupNorm, NearestUpsample, SoftClamp

RNG = np.random.default_rng(0)


def _torch_conv(cin: int, cout: int, stride: int) -> torch.nn.Conv2d:
    torch.manual_seed(0)
    return torch.nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False).double()


def _torch_nhwc(module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()


def _keras_kernel(conv: torch.nn.Conv2d) -> np.ndarray:
    return conv.weight.detach().numpy().transpose(2, 3, 1, 0)


# --- stride-2 convolution padding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(8, 8), (8, 10), (6, 12), (7, 9), (1, 2)])
def test_stride_2_convolution_of_the_port_pads_like_pytorch(size):
    conv = _torch_conv(3, 5, 2)
    net = build_network([("conv", 5, 2, False)], (None, None, 3), "encoder", dtype="float64")
    net.get_layer("encoder-0").set_weights([_keras_kernel(conv)])
    x = RNG.standard_normal((2, *size, 3))
    got = ops.convert_to_numpy(net(x))
    want = _torch_nhwc(conv, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("size", [(8, 8), (8, 10)])
def test_keras_same_padding_would_shift_every_stride_2_output_on_even_sizes(size):
    conv = _torch_conv(3, 5, 2)
    same = keras.layers.Conv2D(5, 3, strides=2, padding="same", use_bias=False, dtype="float64")
    x = RNG.standard_normal((2, *size, 3))
    same.build(x.shape)
    same.set_weights([_keras_kernel(conv)])
    got, want = ops.convert_to_numpy(same(x)), _torch_nhwc(conv, x)
    assert got.shape == want.shape  # same shapes, different numbers: the trap is silent
    assert np.max(np.abs(got - want)) > 0.5


def test_keras_same_padding_agrees_on_odd_sizes_which_is_why_odd_test_shapes_hide_the_trap():
    conv = _torch_conv(3, 5, 2)
    same = keras.layers.Conv2D(5, 3, strides=2, padding="same", use_bias=False, dtype="float64")
    x = RNG.standard_normal((1, 7, 9, 3))
    same.build(x.shape)
    same.set_weights([_keras_kernel(conv)])
    np.testing.assert_allclose(ops.convert_to_numpy(same(x)), _torch_nhwc(conv, x), rtol=0, atol=1e-12)


# --- GroupNorm: epsilon and reduction order -----------------------------------------------------------------------


def _torch_group_norm(x: np.ndarray, groups: int, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    norm = torch.nn.GroupNorm(groups, x.shape[-1]).double()  # PyTorch's default epsilon, 1e-5
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(gamma))
        norm.bias.copy_(torch.from_numpy(beta))
    return _torch_nhwc(norm, x)


def _ours(x: np.ndarray, layer: keras.layers.Layer, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    layer.build(x.shape)
    layer.set_weights([gamma, beta])
    return ops.convert_to_numpy(layer(x))


@pytest.fixture
def small_variance_maps():
    """Activations with a variance near 1e-4, where epsilon 1e-3 vs 1e-5 changes the output several-fold."""
    x = 0.01 * RNG.standard_normal((2, 6, 5, 16)) + 0.3
    return x, RNG.uniform(0.5, 1.5, 16), RNG.uniform(-0.5, 0.5, 16)


def test_group_norm_matches_torch_group_norm(small_variance_maps):
    x, gamma, beta = small_variance_maps
    got = _ours(x, GroupNorm(4, dtype="float64"), gamma, beta)
    np.testing.assert_allclose(got, _torch_group_norm(x, 4, gamma, beta), rtol=0, atol=1e-10)


@pytest.mark.parametrize("layer", [lambda: GroupNorm(4, epsilon=1e-3, dtype="float64"),
                                   lambda: keras.layers.GroupNormalization(4, dtype="float64")],
                         ids=["GroupNorm(epsilon=1e-3)", "keras.layers.GroupNormalization"])
def test_epsilon_1e_3_as_keras_defaults_fails_the_same_check(small_variance_maps, layer):
    x, gamma, beta = small_variance_maps
    got = _ours(x, layer(), gamma, beta)
    assert np.max(np.abs(got - _torch_group_norm(x, 4, gamma, beta))) > 0.1


def _numpy_group_norm(x: np.ndarray, groups: int, eps: float = 1e-5) -> np.ndarray:
    y = x.astype(np.float64).reshape(*x.shape[:3], groups, x.shape[-1] // groups)
    mean = y.mean(axis=(1, 2, 4), keepdims=True)
    var = ((y - mean) ** 2).mean(axis=(1, 2, 4), keepdims=True)
    return ((y - mean) / np.sqrt(var + eps)).reshape(x.shape)


def _single_reduction(x, groups: int, eps: float = 1e-5, one_pass: bool = False):
    """GroupNorm's statistics as one float32 reduction over (H, W, group channels), as a plain port would write them."""
    n, h, w, c = x.shape
    y = ops.reshape(x, (n, h, w, groups, c // groups))
    mean = ops.mean(y, axis=(1, 2, 4), keepdims=True)
    if one_pass:
        var = ops.mean(ops.square(y), axis=(1, 2, 4), keepdims=True) - ops.square(mean)
    else:
        var = ops.mean(ops.square(y - mean), axis=(1, 2, 4), keepdims=True)
    return ops.convert_to_numpy(ops.reshape((y - mean) * ops.rsqrt(var + eps), (n, h, w, c)))


@pytest.fixture(scope="module")
def large_offset_map() -> tuple[np.ndarray, np.ndarray]:
    """1x512x512x16 float32 values 100 + N(0, 1) and their GroupNorm in float64 numpy."""
    x = (100.0 + np.random.default_rng(1).standard_normal((1, 512, 512, 16))).astype(np.float32)
    return x, _numpy_group_norm(x, 4)


def test_staged_two_pass_group_norm_stays_exact_in_float32_on_a_large_offset_map(large_offset_map):
    x, want = large_offset_map
    got = _ours(x, GroupNorm(4), np.ones(16, np.float32), np.zeros(16, np.float32))
    assert got.dtype == np.float32
    assert np.max(np.abs(got - want)) < 1e-4


@pytest.mark.parametrize("one_pass, drift", [(False, 1e-3), (True, 0.1)], ids=["one-reduction", "E[x2]-E[x]2"])
def test_single_reduction_float32_statistics_drift_on_the_same_map(large_offset_map, one_pass, drift):
    x, want = large_offset_map
    assert np.max(np.abs(_single_reduction(x, 4, one_pass=one_pass) - want)) > drift


# --- nearest upsampling ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [2, 3])
def test_nearest_upsample_matches_torch_at_odd_and_non_square_sizes_with_dynamic_shapes(factor):
    inputs = keras.Input((None, None, 3), dtype="float64")
    model = keras.Model(inputs, NearestUpsample(factor, dtype="float64")(inputs))
    upsample = torch.nn.Upsample(scale_factor=factor, mode="nearest")
    for size in [(1, 1), (3, 5), (7, 4), (6, 6)]:  # one graph, several sizes
        x = RNG.standard_normal((2, *size, 3))
        got = ops.convert_to_numpy(model(x))
        assert got.shape == (2, size[0] * factor, size[1] * factor, 3)
        np.testing.assert_array_equal(got, _torch_nhwc(upsample, x))


def _upsample_conv_litert(upsample: keras.layers.Layer, path) -> tuple[keras.Model, str]:
    """Upsample then Conv2D on (batch, None, None, 4), exported as the zoo exports (Keras' LiteRT path, Flex allowed)."""
    inputs = keras.Input((None, None, 4))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(upsample(inputs)))
    model.export(str(path), format="litert", verbose=False)
    return model, str(path)


def _op_names(interpreter) -> list[str]:
    return [op["op_name"] for op in interpreter._get_ops_details()]  # noqa: SLF001 - LiteRT's only op listing


def test_nearest_upsample_then_conv_exports_builtin_litert_ops_that_run_at_any_size(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    model, path = _upsample_conv_litert(NearestUpsample(2), tmp_path / "nearest.tflite")
    interpreter = Interpreter(model_path=path)
    assert "CONV_2D" in _op_names(interpreter)
    assert not any(name.lower().startswith("flex") for name in _op_names(interpreter)), _op_names(interpreter)
    index, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    for shape in [(1, 5, 7, 4), (2, 8, 6, 4)]:
        x = RNG.standard_normal(shape).astype(np.float32)
        interpreter.resize_tensor_input(index, shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        got = interpreter.get_tensor(out)
        assert got.shape == (shape[0], shape[1] * 2, shape[2] * 2, 3)
        np.testing.assert_allclose(got, ops.convert_to_numpy(model(x)), rtol=0, atol=1e-5)


def test_upsampling2d_then_conv_exports_a_flex_conv_that_litert_refuses(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    _model, path = _upsample_conv_litert(keras.layers.UpSampling2D(2), tmp_path / "upsampling2d.tflite")
    interpreter = Interpreter(model_path=path)
    assert "FlexConv2D" in _op_names(interpreter)  # UpSampling2D loses the channel count: TF's Conv2D kept as is
    with pytest.raises(RuntimeError, match="Select TensorFlow op"):
        interpreter.allocate_tensors()


# --- soft clamp ------------------------------------------------------------------------------------------------------


def test_soft_clamp_is_tanh_of_x_over_3_times_3():
    x = np.concatenate([np.linspace(-50, 50, 1001), [0.0, 1e-8, -1e-8, 3.0, -3.0]])[None]
    got = ops.convert_to_numpy(SoftClamp(3.0, dtype="float64")(x))
    # A few units in the last place at 3 (4.4e-16 each): TensorFlow's and numpy's tanh round differently.
    np.testing.assert_allclose(got, np.tanh(x / 3.0) * 3.0, rtol=0, atol=8 * np.spacing(3.0))
    assert np.all(np.abs(got) <= 3.0) and np.all(np.diff(got[0, :1001]) >= 0)
