"""Data: named datasets and user files (``datasets``), batches for training (``pipeline``),
data larger than memory (``streaming``, ``pack``) and the sample photographs (``photos``)."""
