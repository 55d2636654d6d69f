"""Decoded features (FCM): split points, the feature file, its conformance checks, complexity.

- :mod:`vcmctc.features.spec`: split points of the editions and the tensor shapes they imply;
- :mod:`vcmctc.features.store`: the ``.npz`` feature file, read frame by frame, and its MD5;
- :mod:`vcmctc.features.conformance`: checks against a split point, per-channel statistics as
  the public FCM tools dump them, MSE against original features;
- :mod:`vcmctc.features.complexity`: kMAC/pixel with PyTorch's FLOP counter.

See docs/features.md. Only :mod:`~vcmctc.features.complexity` needs PyTorch.
"""
