"""The linear autoencoder recovers the PCA subspace of low-rank data."""

import keras
import numpy as np
import pytest
from scipy.linalg import subspace_angles

import zoo


@pytest.mark.slow
def test_linear_autoencoder_spans_the_pca_subspace():
    rng = np.random.default_rng(0)
    n, d, k = 512, 20, 3
    basis = np.linalg.qr(rng.normal(size=(d, k)))[0]
    scales = np.array([3.0, 2.0, 1.0])
    x = (rng.normal(size=(n, k)) * scales) @ basis.T + 0.01 * rng.normal(size=(n, d))
    x = (x - x.mean(axis=0)).astype("float32")

    model = zoo.create_model("linear_dense", input_shape=(d,), latent_dim=k)
    model.compile(keras.optimizers.Adam(0.02), steps_per_execution=50)
    model.fit(x, epochs=400, batch_size=n, verbose=0)

    pcs = np.linalg.svd(x, full_matrices=False)[2][:k].T  # (d, k) top principal directions
    decoder_kernel = model.decoder.get_layer("output").kernel.numpy().T  # (d, k)
    angles = subspace_angles(decoder_kernel, pcs)
    assert np.max(angles) < 0.02, np.degrees(angles)
    # A test that could not fail would pass with a random subspace too.
    assert np.max(subspace_angles(rng.normal(size=(d, k)), pcs)) > 0.3
