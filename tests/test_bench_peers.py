"""The PyTorch peers: the same function as the Keras models given the same weights, and a loop that trains."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from benchmarks.peers import PEER_MODELS  # noqa: E402
from benchmarks.peers.loops import PeerTrainer, inference_call, to_nchw  # noqa: E402
from benchmarks.peers.models import PEERS, build_peer, copy_keras_weights, peer_kwargs  # noqa: E402
from tests.helpers import blob_images, tiny_model  # noqa: E402


def test_every_peer_is_listed_without_importing_torch():
    assert tuple(PEERS) == PEER_MODELS


@pytest.mark.parametrize("name", PEER_MODELS)
@pytest.mark.parametrize("part", ["encoder", "autoencoder"])
def test_peer_computes_the_keras_function_given_its_weights(name, part):
    model = tiny_model(name)
    peer = copy_keras_weights(build_peer(name, **peer_kwargs(model)), model)
    x = np.random.default_rng(0).random((6, *model.data_shape), dtype=np.float32)
    expected = keras.ops.convert_to_numpy(model.get_part(part)(x, training=False))
    got = inference_call(peer, part)(torch.as_tensor(to_nchw(x))).numpy()
    if got.ndim == 4:
        got = got.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, expected.reshape(got.shape), atol=1e-5)


def test_peer_weights_start_glorot_uniform_with_zero_biases():
    peer = build_peer("ae_dense", input_shape=(16, 16, 1), latent_dim=4, hidden_units=(32,))
    first = peer.encoder[1]
    limit = np.sqrt(6 / (256 + 32))
    assert float(first.weight.abs().max()) <= limit and float(first.weight.abs().max()) > 0.8 * limit
    assert all(float(m.bias.abs().max()) == 0 for m in peer.modules() if isinstance(m, torch.nn.Linear))


def test_unknown_peer_names_the_peers():
    with pytest.raises(ValueError, match="peers exist for ae_dense, ae_conv, vae_conv"):
        build_peer("wae_dense")


@pytest.mark.parametrize("name", ["ae_dense", "vae_conv"])
def test_peer_training_loop_lowers_the_loss(name):
    x = blob_images(64)
    kwargs = {"latent_dim": 4, **({"hidden_units": (32,)} if name == "ae_dense" else {"filters": (4, 8)})}
    trainer = PeerTrainer(name, x, 16, model_kwargs=kwargs)
    module = trainer.module.eval()
    before = float(torch.nn.functional.mse_loss(module(trainer.x), trainer.x))
    for _ in range(3):
        assert trainer.epoch() > 0
    after = float(torch.nn.functional.mse_loss(module.eval()(trainer.x), trainer.x))
    assert trainer.steps == 4 and after < before
