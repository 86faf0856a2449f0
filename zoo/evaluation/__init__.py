"""Evaluation: metrics of a model on a dataset (``evaluate``) and the pictures of it (``plots``,
``tae_pictures``)."""
