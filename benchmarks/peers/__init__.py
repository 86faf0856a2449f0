"""Plain PyTorch peers of the benchmarked autoencoders: what a PyTorch user would write.

``benchmarks.peers.models`` holds the modules (same layers, sizes, activations,
padding and initial-weight scheme as aezoo's ``ae_dense``, ``ae_conv`` and
``vae_conv``) and copies a Keras model's weights into them;
``benchmarks.peers.loops`` holds the training loop and the inference call,
eager or through ``torch.compile``. Only those two modules import PyTorch.
"""

#: aezoo models that have a PyTorch peer (the keys of ``benchmarks.peers.models.PEERS``).
PEER_MODELS = ("ae_dense", "ae_conv", "vae_conv")
