"""Training of :class:`hpe_ros.model.HeadPoseNet` on synthetic pairs (``hpe train``; needs the ``train`` and
``synth`` extras): recipes (:mod:`.config`), losses, augmentations, CLERF contrastive pre-training, the loop.
"""
