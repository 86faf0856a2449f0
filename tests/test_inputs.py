"""The input contract (zoo.utils.inputs): one set of rules for every Autoencoder entry point, and no data changed."""

import numpy as np
import pytest

import zoo
from tests.helpers import TINY_SHAPE, blob_images, tiny_model
from zoo.utils.inputs import as_model_input

ENTRY_POINTS = {
    "fit": lambda m, x: m.fit(x, epochs=1, verbose=0),
    "encode": lambda m, x: m.encode(x),
    "predict": lambda m, x: m.predict(x, verbose=0),
    "evaluate": lambda m, x: m.evaluate(x, verbose=0),
}
H, W, _ = TINY_SHAPE


def _pixels(n=4, dtype="uint8"):
    return (blob_images(n) * 255).round().astype(dtype)


# Each class of bad input, and the words the refusal must contain.
BAD = {
    "int_out_of_range": (lambda: np.full((2, *TINY_SHAPE), 1000, "int64"),
                         r"0\.\.255.*dtype=int64 with values in \[1000, 1000\]"),
    "float_out_of_range": (lambda: blob_images(4) * 255, r"\[0, 1\].*Received range \[6.*, 253.4\] \(dtype=float32\)"),
    "nan": (lambda: np.where(np.arange(4)[:, None, None, None] == 2, np.nan, blob_images(4)),
            r"256 NaN or infinite value\(s\), the first at index \(2, 0, 0, 0\)"),
    "inf": (lambda: np.full((2, *TINY_SHAPE), np.inf, "float32"), "NaN or infinite"),
    "empty": (lambda: np.zeros((0, *TINY_SHAPE), "float32"), r"received no data \(shape=\(0, 16, 16, 1\)\)"),
    "other_layout": (lambda: blob_images(4).reshape(4, 8, 32), r"\(batch, 16, 16, 1\) or \(batch, 16, 16\)"
                     + r"\. Received: shape=\(4, 8, 32\); .*not reshaped"),
    "no_batch_axis": (lambda: blob_images(1)[0], r"Received: shape=\(16, 16, 1\); .*without the batch axis"),
    "flat": (lambda: blob_images(4).reshape(4, -1), r"Received: shape=\(4, 256\); .*not reshaped"),
    "bool": (lambda: blob_images(4) > 0.5, "dtype=bool"),
    "strings": (lambda: np.full((2, *TINY_SHAPE), "a"), "expected integer pixels or floats"),
    "ragged_list": (lambda: [[0.0] * 3, [0.0] * 2], "nested lists of equal lengths"),
    "none": (lambda: None, "received None"),
    "text": (lambda: "images.npy", "Received: str"),
}


@pytest.fixture(scope="module")
def model():
    m = tiny_model("ae_dense")
    m.compile("adam")
    return m


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("case", BAD)
def test_every_entry_point_refuses_every_class_of_bad_input(model, entry, case):
    make, match = BAD[case]
    x = make()
    before = None if x is None or isinstance(x, (str, list)) else np.array(x, copy=True)
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=match) as info:
        ENTRY_POINTS[entry](model, x)
    assert str(info.value).startswith(entry)  # the message says which call refused
    if before is not None:
        np.testing.assert_array_equal(x, before)  # the caller's data is untouched
    for w, w0 in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(w, w0)  # nothing was trained on it


def test_uint8_and_integer_pixels_are_scaled_like_the_cli(model):
    u8 = _pixels()
    reference = model.encode(u8.astype("float32") / 255)
    for x in (u8, u8.astype("int64"), u8.astype("int32"), u8[..., 0], u8.tolist()):
        np.testing.assert_allclose(model.encode(x), reference, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(u8, _pixels())  # scaled into a new array, never in place


def test_fit_on_uint8_trains_on_a_positive_bce():
    model = tiny_model("ae_dense")
    model.compile("adam")
    history = model.fit(_pixels(16), epochs=1, batch_size=8, verbose=0)
    assert 0 < history.history["loss"][0] < 1.0  # BCE of [0, 1] targets, not of 0..255 values


def test_mse_models_accept_any_finite_float_but_not_nan():
    model = tiny_model("linear_dense")
    x = np.random.default_rng(0).normal(size=(3, *TINY_SHAPE)).astype("float32") * 100
    assert model.encode(x).shape == (3, 4)
    x[1, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"index \(1, 2, 3, 0\)"):
        model.encode(x)


def test_decode_takes_codes_of_any_dtype_and_refuses_other_shapes(model):
    np.testing.assert_allclose(model.decode(np.ones((2, 4), "int64")), model.decode(np.ones((2, 4), "float32")))
    np.testing.assert_allclose(model.decode([[0.5] * 4]), model.decode(np.full((1, 4), 0.5, "float32")))
    with pytest.raises(ValueError, match=r"decode: expected data of shape \(batch, 4\)\. Received: shape=\(2, 5\)"):
        model.decode(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match=r"decode: .*NaN"):
        model.decode(np.full((2, 4), np.nan))


@pytest.mark.parametrize("batch_size", [0, -5, 2.5])
def test_batch_size_is_checked(model, batch_size):
    with pytest.raises(ValueError, match=f"batch_size={batch_size}"):
        model.encode(blob_images(2), batch_size=batch_size)


def test_vae_encode_distribution_follows_the_contract():
    model = tiny_model("vae_dense")
    mean_u8, _ = model.encode_distribution(_pixels(3))
    np.testing.assert_allclose(mean_u8, model.encode_distribution(_pixels(3) / 255)[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="encode_distribution: .*Received range"):
        model.encode_distribution(blob_images(2) * 2)


def test_tf_data_is_checked_and_uint8_scaled_inside_the_pipeline(model):
    import tensorflow as tf

    u8 = _pixels(6)
    ds = tf.data.Dataset.from_tensor_slices(u8[..., 0]).batch(3)  # uint8, no channel axis
    np.testing.assert_allclose(model.predict(ds, verbose=0), model.predict(u8 / 255, verbose=0), rtol=1e-5, atol=1e-6)
    pairs = tf.data.Dataset.from_tensor_slices((u8, u8)).batch(3)  # (x, x) pairs: both scaled
    np.testing.assert_allclose(model.evaluate(pairs, verbose=0), model.evaluate(u8 / 255, verbose=0), rtol=1e-5)
    bad = tf.data.Dataset.from_tensor_slices(np.zeros((4, 8, 8, 1), "float32")).batch(2)
    with pytest.raises(ValueError, match=r"fit: expected data of shape \(batch, 16, 16, 1\)"):
        model.fit(bad, verbose=0)


def test_a_pydataset_has_its_first_batch_checked_and_generators_pass(model):
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self, x):
            super().__init__()
            self.x = x

        def __len__(self):
            return 2

        def __getitem__(self, i):
            return self.x[i * 2:(i + 1) * 2]

    assert model.predict(Batches(blob_images(4)), verbose=0).shape == (4, *TINY_SHAPE)
    with pytest.raises(ValueError, match=r"predict \(first batch of Batches\): .*Received range"):
        model.predict(Batches(blob_images(4) * 3), verbose=0)
    gen = ((blob_images(2),) for _ in range(1))
    assert model.predict(gen, verbose=0).shape == (2, *TINY_SHAPE)


def test_tensors_of_the_backend_are_read_as_arrays(model):
    import keras

    x = blob_images(2)
    np.testing.assert_allclose(model.encode(keras.ops.convert_to_tensor(x)), model.encode(x), rtol=1e-6)


def test_as_model_input_without_a_shape_keeps_the_layout():
    out = as_model_input(np.array([[0, 255]], "uint8"), None)
    assert out.dtype == np.float32 and out.tolist() == [[0.0, 1.0]]
    with pytest.raises(ValueError, match=r"batch axis first.*shape=\(3,\)"):
        as_model_input(np.zeros(3), None)


def test_the_pretrained_path_matches_the_cli_scaling():
    from zoo.data import datasets as zdata

    x_u8 = zdata.load_sample("mnist")[0][:8]
    model = zoo.load_pretrained("ae_dense.mnist")
    np.testing.assert_allclose(model.encode(x_u8), model.encode(zdata.to_unit_range(x_u8)), rtol=1e-6)
