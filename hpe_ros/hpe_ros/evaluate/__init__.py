"""Evaluation on real images with ground truth: AFLW2000-3D absolute and relative pairs, baselines, reports.

Entry point: :func:`hpe_ros.evaluate.runner.run_aflw2000_eval` (the ``hpe eval`` command); estimators and
``--model`` specs: :mod:`hpe_ros.evaluate.estimators`. Submodules import their heavy dependencies lazily.
"""
