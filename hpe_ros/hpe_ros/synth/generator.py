"""Render sampled pairs: the model, the GL renderer, backgrounds and degradations behind one call."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from hpe_ros.geometry import biwi_from_head_rotation, geodesic_deg, relative_transform
from hpe_ros.synth.assets import load_cache
from hpe_ros.synth.backgrounds import background_images, random_background
from hpe_ros.synth.degrade import add_occluder, camera_tone, composite, degrade, effective_lowres
from hpe_ros.synth.mesh import HeadModel
from hpe_ros.synth.renderer import Renderer
from hpe_ros.synth.sampler import PairParams, ViewParams

TONE_SALT = 7  # the camera tone's own stream: the other draws stay paired with renders made without it


def view_labels(view: ViewParams) -> dict:
    """JSON-ready labels of one image: R, t (head→camera, OpenCV axes, metres), K of the crop, BIWI angles."""
    yaw, pitch, roll = biwi_from_head_rotation(view.R)
    return {
        "R": view.R.tolist(),
        "t": view.t.tolist(),
        "K": view.K.tolist(),
        "crop_side_px": view.crop_side_px,
        "biwi_ypr_deg": [float(yaw), float(pitch), float(roll)],
        "expression": view.expression,
    }


def pair_labels(pair: PairParams) -> dict:
    """Labels of a pair: both views plus R_rel = R_q·R_aᵀ, t_rel = t_q − R_rel·t_a and the geodesic gap."""
    R_rel, t_rel = relative_transform(pair.anchor.R, pair.anchor.t, pair.query.R, pair.query.t)
    return {
        "index": pair.index,
        "identity_id": pair.identity_id,
        "anchor": view_labels(pair.anchor),
        "query": view_labels(pair.query),
        "R_rel": R_rel.tolist(),
        "t_rel": t_rel.tolist(),
        "gap_deg": float(geodesic_deg(pair.query.R, pair.anchor.R)),
        "appearance": {"skin": pair.appearance.skin, **pair.appearance.proxies},
    }


@lru_cache(maxsize=2)
def shared_model(cache: str | None = None) -> HeadModel:
    """The :class:`HeadModel` of a cache, loaded once per process."""
    return HeadModel(load_cache(cache))


@lru_cache(maxsize=1)
def shared_backgrounds() -> tuple[np.ndarray, ...]:
    """The background images, loaded once per process."""
    return tuple(background_images())


class PairRenderer:
    """Turns :class:`PairParams` into two RGB uint8 crops; owns one EGL context (one per process)."""

    def __init__(
        self,
        model: HeadModel | None = None,
        size: int = 224,
        cache: str | os.PathLike | None = None,
        supersample: int = 1,
    ):
        self.model = model or shared_model(None if cache is None else str(cache))
        self.renderer = Renderer(self.model.cache, size, supersample)
        self.size = size
        self.backgrounds = list(shared_backgrounds())

    def render_view(self, pair: PairParams, view: ViewParams) -> np.ndarray:
        """One composited RGB crop; with degradations on, also the camera tone (:func:`camera_tone`)."""
        rng = np.random.default_rng(view.background_seed)
        parts = self.model.build(pair.identity, view.expression, pair.appearance, view.torso_rotation)
        rgba = self.renderer.render(parts, view.K, view.R, view.t, view.lighting)
        image = composite(rgba, random_background(rng, self.size, self.backgrounds))
        params = dict(view.degradation)
        if view.degradation:
            image = camera_tone(np.random.default_rng([view.background_seed, TONE_SALT]), image)
            params["lowres"] = params.get("lowres", 0.0) or effective_lowres(view.crop_side_px, self.size)
            if params.get("occluder"):
                image = add_occluder(rng, image, random_background(rng, self.size, self.backgrounds))
        return degrade(rng, image, params)

    def render_pair(self, pair: PairParams) -> tuple[np.ndarray, np.ndarray, dict]:
        """(anchor RGB, query RGB, labels) of one pair."""
        return self.render_view(pair, pair.anchor), self.render_view(pair, pair.query), pair_labels(pair)

    def close(self) -> None:
        """Release the GL context."""
        self.renderer.release()
