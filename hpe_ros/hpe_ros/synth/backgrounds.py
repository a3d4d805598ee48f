"""Backgrounds for the renders: scikit-image data, Debian wallpapers when installed, procedural clutter."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

# Bundled scikit-image images without faces (astronaut, camera and lfw_subset show people).
SKIMAGE_NAMES = (
    "brick",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "horse",
    "immunohistochemistry",
    "logo",
    "moon",
    "page",
    "rocket",
    "text",
    "hubble_deep_field",
    "colorwheel",
    "clock",
    "retina",
    "cat",
)
WALLPAPER_DIRS = ("/usr/share/backgrounds", "/usr/share/wallpapers", "/usr/share/images/desktop-base")
MAX_SIDE = 512  # images are stored downscaled; crops of them are small anyway


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (255 * (image.astype(np.float32) - image.min()) / max(float(np.ptp(image)), 1e-6)).astype(
            np.uint8
        )
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = image[:, :, :3]
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def background_images(wallpaper_dirs: tuple[str, ...] = WALLPAPER_DIRS) -> list[np.ndarray]:
    """RGB uint8 images: the bundled scikit-image data plus any Debian wallpaper PNG/JPEG present."""
    import skimage.data

    images = []
    for name in SKIMAGE_NAMES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                images.append(_rgb(getattr(skimage.data, name)()))
        except Exception:
            continue
    for folder in wallpaper_dirs:
        for path in sorted(Path(folder).rglob("*")) if Path(folder).is_dir() else []:
            if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is not None:
                    images.append(_rgb(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
    return images


def procedural_clutter(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random indoor-ish clutter image: gradient, rectangles, ellipses and lines, slightly blurred."""
    top, bottom = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = np.linspace(0.0, 1.0, size)[:, None, None]
    image = (top * (1 - ramp) + bottom * ramp).repeat(size, axis=1).astype(np.uint8)
    image = np.ascontiguousarray(image)
    for _ in range(rng.integers(3, 15)):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(3)
        p = rng.integers(-size // 4, size + size // 4, 4)
        if kind == 0:
            cv2.rectangle(image, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour, -1)
        elif kind == 1:
            axes = (int(rng.integers(4, size // 2)), int(rng.integers(4, size // 2)))
            cv2.ellipse(image, (int(p[0]), int(p[1])), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            cv2.line(image, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour, int(rng.integers(1, 8)))
    return cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 3.0)))


def random_background(rng: np.random.Generator, size: int, images: list[np.ndarray]) -> np.ndarray:
    """A size×size RGB background: a random image crop (scaled, flipped, colour-jittered) or clutter."""
    if not images or rng.random() < 0.35:
        return procedural_clutter(rng, size)
    image = images[rng.integers(len(images))]
    h, w = image.shape[:2]
    side = int(rng.uniform(0.3, 1.0) * min(h, w))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = cv2.resize(image[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    gain = rng.uniform(0.5, 1.3, 3)
    return np.clip(crop.astype(np.float32) * gain, 0, 255).astype(np.uint8)
