"""Training: ``run`` (fit a registered model on a dataset, with backups and resume) over
``distribute`` (tf.distribute / keras.distribution strategies)."""
