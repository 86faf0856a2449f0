"""The public API in the ecosystem's shape: create_model with pretrained entries, provenance, parts, heads."""

import keras
import numpy as np
import pytest

import zoo
from tests.helpers import blob_images, tiny_model
from zoo.data import datasets as zdata
from zoo.evaluation.evaluate import evaluate
from zoo.models.heads import CodeHead

SAMPLE = zdata.to_unit_range(zdata.load_sample("mnist")[0][:16])


def test_create_model_with_pretrained_weights_equals_load_pretrained():
    model = zoo.create_model("ae_dense.mnist", pretrained=True)
    reference = zoo.load_pretrained("ae_dense.mnist")
    np.testing.assert_array_equal(model.encode(SAMPLE), reference.encode(SAMPLE))
    assert model.pretrained_name == "ae_dense.mnist" and model.loaded_parts == ("decoder", "encoder")
    only = zoo.create_model("linear_dense", pretrained=True)  # the architecture's only entry
    assert only.pretrained_name == "linear_dense.mnist"


def test_an_entry_without_weights_is_its_cards_architecture_with_fresh_weights():
    model = zoo.create_model("ae_conv.mnist")
    card = zoo.get_card("ae_conv.mnist")
    assert model.latent_dim == card.latent_dim and model.pretrained_name is None
    assert not np.allclose(model.encode(SAMPLE), zoo.load_pretrained("ae_conv.mnist").encode(SAMPLE))


@pytest.mark.parametrize("name, kwargs, needle", [
    ("ae_conv", {}, "has 2 pretrained entries"),
    ("ae_dense.mnist", {"latent_dim": 3}, "keeps its card's architecture"),
    ("ae_dense.mnst", {}, "Did you mean: ae_dense.mnist"),
])
def test_create_model_pretrained_errors(name, kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        zoo.create_model(name, pretrained=True, **kwargs)


def test_the_pretrained_source_survives_a_keras_file(tmp_path):
    model = zoo.load_pretrained("vae_dense.mnist")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.pretrained_name == "vae_dense.mnist"
    assert loaded.loaded_parts == ("decoder", "posterior")
    np.testing.assert_array_equal(loaded.encode(SAMPLE), model.encode(SAMPLE))


def test_partial_loads_say_which_parts_were_loaded():
    encoder_only = zoo.load_pretrained("ae_dense.mnist", parts=("encoder",))
    assert encoder_only.loaded_parts == ("encoder",)
    np.testing.assert_array_equal(encoder_only.encode(SAMPLE), zoo.load_pretrained("ae_dense.mnist").encode(SAMPLE))
    with pytest.raises(ValueError, match=r"weights for parts \['decoder', 'encoder'\]"):
        zoo.load_pretrained("ae_dense.mnist", parts=("posterior",))


def test_vae_and_autoencoder_take_their_parts_the_same_way():
    vae = tiny_model("vae_dense")
    twin = zoo.VAE(vae.encoder_network, vae.decoder, beta=vae.beta, seed=7)
    plain = zoo.Autoencoder(tiny_model("ae_dense").encoder_network, tiny_model("ae_dense").decoder)
    assert set(twin.components) == {"posterior", "decoder"} and set(plain.components) == {"encoder", "decoder"}
    x = blob_images(4)
    np.testing.assert_allclose(twin.encode(x), vae.encode(x), atol=1e-6)
    legacy = zoo.VAE(posterior=vae.encoder_network, decoder=vae.decoder)  # the keyword before 0.2
    np.testing.assert_allclose(legacy.encode(x), vae.encode(x), atol=1e-6)


@keras.saving.register_keras_serializable(package="aezoo_test")
class CountingHead(CodeHead):
    """A throw-away head: reports a metric of its own and adds a known penalty."""

    def call(self, inputs, training=None):
        self.add_loss(0.25 * keras.ops.ones(()))
        return inputs

    def evaluation_metrics(self, model, x, codes, *, seed=0, batch_size=512):
        return {"codes_seen": float(len(codes))}

    def summarize(self, card_metrics):
        return f"saw {card_metrics['codes_seen']:.0f} codes"


def test_a_new_head_is_asked_by_training_evaluation_and_tables(tmp_path):
    base = tiny_model("ae_dense", input_shape=(28, 28, 1))
    model = zoo.Autoencoder(base.encoder_network, base.decoder, head=CountingHead(name="counting"))
    model.compile("adam")
    logs = model.evaluate(SAMPLE, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["penalty"], 0.25, rtol=1e-6)
    metrics = evaluate(model, "sample:mnist")
    assert metrics["codes_seen"] == 1000.0 and model.summarize_metrics(metrics) == "saw 1000 codes"
    model.save(tmp_path / "h.keras")
    assert type(keras.models.load_model(tmp_path / "h.keras").head) is CountingHead
