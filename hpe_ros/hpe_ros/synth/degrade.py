"""Image-space steps after rendering: background compositing, camera tone, occluders, blur, noise, low
resolution, JPEG."""

from __future__ import annotations

import cv2
import numpy as np


def composite(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Alpha-composite a rendered RGBA crop over an RGB background of the same size."""
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    out = rgba[:, :, :3].astype(np.float32) * alpha + background.astype(np.float32) * (1.0 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


LUMA = np.array([0.299, 0.587, 0.114], np.float32)
TONE_TARGET_LUMA = (120.0, 165.0)  # the face region's mean luma after exposure (real crops: median ~148)
TONE_GAIN = (0.85, 1.8)
TONE_CONTRAST = (1.05, 1.35)


def camera_tone(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A camera's exposure and tone curve: a gain that brings the central region's (the face's) mean luma to a
    drawn target, then a contrast stretch about that mean. Rendered faces were darker in their low tail and
    flatter than real crops (realism meter, MODEL_CARD.md)."""
    size = image.shape[0]
    centre, half = size // 2, size // 5
    region = image[centre - half : centre + half, centre - half : centre + half].astype(np.float32)
    luma = float((region @ LUMA).mean())
    gain = float(np.clip(rng.uniform(*TONE_TARGET_LUMA) / max(luma, 1.0), *TONE_GAIN))
    mean = luma * gain
    stretched = mean + rng.uniform(*TONE_CONTRAST) * (image.astype(np.float32) * gain - mean)
    return np.clip(stretched + 0.5, 0, 255).astype(np.uint8)


def add_occluder(rng: np.random.Generator, image: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Paste a random ellipse or polygon cut from ``texture`` over part of the crop (hands, objects, mics)."""
    size = image.shape[0]
    mask = np.zeros(image.shape[:2], np.uint8)
    centre = (int(rng.uniform(0.1, 0.9) * size), int(rng.uniform(0.3, 1.0) * size))
    if rng.random() < 0.5:
        axes = (int(rng.uniform(0.08, 0.3) * size), int(rng.uniform(0.08, 0.3) * size))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    else:
        points = np.array(centre) + rng.normal(0, 0.15 * size, (int(rng.integers(3, 7)), 2))
        cv2.fillPoly(mask, [points.astype(np.int32)], 255)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[:, :, None].astype(np.float32) / 255.0
    return np.clip(image * (1 - mask) + texture * mask, 0, 255).astype(np.uint8)


def degrade(rng: np.random.Generator, image: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """Apply the sampled degradations (0 = off): low resolution, blur, motion blur, noise, JPEG."""
    size = image.shape[0]
    if params.get("lowres", 0.0) > 0:
        small = max(8, int(size * params["lowres"]))
        image = cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), (size, size))
    if params.get("blur_sigma", 0.0) > 0:
        image = cv2.GaussianBlur(image, (0, 0), params["blur_sigma"])
    if params.get("motion_px", 0.0) > 0:
        length = round(params["motion_px"])
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        rotation = cv2.getRotationMatrix2D(
            ((length - 1) / 2, (length - 1) / 2), float(rng.uniform(0, 180)), 1.0
        )
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        image = cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))
    if params.get("noise_sigma", 0.0) > 0:
        noise = rng.normal(0, params["noise_sigma"], image.shape)
        image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if params.get("jpeg_quality", 0.0) > 0:
        ok, data = cv2.imencode(
            ".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(params["jpeg_quality"])]
        )
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1] if ok else image
    return np.ascontiguousarray(image)


def effective_lowres(crop_side_px: float, size: int) -> float:
    """Low-resolution factor of a crop of ``crop_side_px`` camera pixels resized to ``size`` (0 = none)."""
    return crop_side_px / size if crop_side_px < size else 0.0
