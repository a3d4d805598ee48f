"""Batch augmentations in torch: photometric/style randomisation and pose-exact geometric ones.

Geometric augmentations change the image *and* its labels exactly (OpenCV camera: x right, y down, z forward;
labels are head→camera R, t and the crop intrinsics K, pixel centres at integers). Each is a pixel map
x' = H·x (homogeneous); all of a view's maps are composed and the image is resampled once.

- Virtual crop camera: the camera turned (about its centre) so that its optical axis passes through the crop
  centre c, by the smallest rotation R_v; K_v has focal fx and principal point c. Labels R' = R_v·R,
  t' = R_v·t; pixels H = K_v·R_v·K⁻¹. A crop far from the principal point then has the label the image shows:
  without it a crop 20° off-axis carries 20° of rotation no crop can reveal.
- View-camera labels (face-mesh training data, pixels untouched): the same turn towards each head's skull
  centre instead of the crop centre, R' = R_v·R, t' = R_v·t (:func:`view_camera_labels`).
- CLERF's in-plane rotation by θ about c (pixel (u, v) moves to c + Rot(θ)·((u, v) − c),
  Rot(θ) = [[cos, −sin], [sin, cos]], i.e. clockwise on screen for θ > 0 since v points down) is the camera
  rolled about its optical axis: R' = Rz(θ)·R, t' = Rz(θ)·t, principal point p' = c + Rot(θ)·(p − c).
- CLERF's horizontal flip (u' = W − 1 − u) is the scene mirrored by F = diag(−1, 1, 1); the head frame's x
  axis is the head's left-right axis, so the mirrored head has R' = F·R·F, t' = F·t, cx' = W − 1 − cx.

For a pair each image is transformed independently and the relative label is recomputed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from hpe_ros.geometry.frames import HEAD_CENTRE_M
from hpe_ros.train.config import AugmentSection

FLIP = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))
GREY_WEIGHTS = (0.299, 0.587, 0.114)


def roll_matrix(theta: Tensor) -> Tensor:
    """Rz(θ) [N, 3, 3]: rotation about the optical (z) axis by angles θ [N] in radians."""
    c, s = torch.cos(theta), torch.sin(theta)
    zero, one = torch.zeros_like(theta), torch.ones_like(theta)
    return torch.stack([c, -s, zero, s, c, zero, zero, zero, one], dim=-1).reshape(-1, 3, 3)


def roll_labels(R: Tensor, t: Tensor, K: Tensor, theta: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Labels of images rotated by θ [N] about the centre of a size×size crop (see the module docstring)."""
    Rz = roll_matrix(theta).to(R)
    centre = torch.full((2,), (size - 1) / 2, dtype=K.dtype, device=K.device)
    K = K.clone()
    K[:, :2, 2] = centre + (Rz[:, :2, :2] @ (K[:, :2, 2] - centre)[..., None])[..., 0]
    return Rz @ R, (Rz @ t[..., None])[..., 0], K


def flip_labels(R: Tensor, t: Tensor, K: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Labels of horizontally flipped size×size images (see the module docstring)."""
    flip = FLIP.to(R)
    K = K.clone()
    K[:, 0, 2] = size - 1 - K[:, 0, 2]
    return flip @ R @ flip, (flip @ t[..., None])[..., 0], K


def virtual_camera(K: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """(R_v [N, 3, 3], K_v [N, 3, 3]): the smallest camera rotation bringing the ray through the centre of
    a size×size crop onto the optical axis, and the crop's intrinsics in that camera (centred)."""
    centre = (size - 1) / 2
    pixel = torch.tensor([centre, centre, 1.0], dtype=K.dtype, device=K.device).expand(len(K), 3)
    R_v = ray_onto_axis(torch.linalg.solve(K, pixel))
    K_v = torch.zeros_like(K)
    K_v[:, 0, 0] = K_v[:, 1, 1] = K[:, 0, 0]
    K_v[:, :2, 2], K_v[:, 2, 2] = centre, 1.0
    return R_v, K_v


def ray_onto_axis(rays: Tensor) -> Tensor:
    """The smallest rotations [N, 3, 3] taking the directions of ``rays`` [N, 3] onto the optical axis (the
    transpose of :func:`hpe_ros.geometry.rotations.rotation_onto_ray`, batched in torch)."""
    ray = F.normalize(rays, dim=-1)
    z = torch.tensor([0.0, 0.0, 1.0], dtype=ray.dtype, device=ray.device).expand_as(ray)
    axis = torch.linalg.cross(ray, z)  # |axis| = sin(angle)
    cos = ray[:, 2]
    skew = torch.zeros(len(ray), 3, 3, dtype=ray.dtype, device=ray.device)
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    skew = skew - skew.transpose(1, 2)
    eye = torch.eye(3, dtype=ray.dtype, device=ray.device)
    return eye + skew + skew @ skew / (1 + cos)[:, None, None]  # Rodrigues for unit vectors ray -> z


def warp_images(images: Tensor, H: Tensor) -> Tensor:
    """Images [N, C, S, S] resampled (bilinear, zeros outside) so input pixel x lands at H·x (H [N, 3, 3])."""
    n, _, h, w = images.shape
    v, u = torch.meshgrid(
        torch.arange(h, dtype=H.dtype, device=H.device), torch.arange(w, dtype=H.dtype, device=H.device),
        indexing="ij",
    )  # fmt: skip
    out = torch.stack([u, v, torch.ones_like(u)], dim=-1).reshape(1, -1, 3, 1)
    source = (torch.linalg.inv(H)[:, None] @ out)[..., 0]  # [N, h·w, 3]
    uv = source[..., :2] / source[..., 2:]
    grid = torch.stack([(2 * uv[..., 0] + 1) / w - 1, (2 * uv[..., 1] + 1) / h - 1], dim=-1)
    grid = grid.reshape(n, h, w, 2).to(images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def transform_view(
    images: Tensor, R: Tensor, t: Tensor, K: Tensor, theta: Tensor, flip: Tensor, virtual: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Move images [N, 3, S, S] to the virtual crop camera (if ``virtual``), flip where ``flip`` [N] (bool),
    then roll by θ [N] radians; one resampling, labels (R, t, K) transformed exactly."""
    size = images.shape[-1]
    if images.shape[-2] != size:
        raise ValueError("geometric augmentation needs square crops")
    H = torch.eye(3, dtype=K.dtype, device=K.device).repeat(len(K), 1, 1)
    if virtual:
        R_v, K_v = virtual_camera(K, size)
        H = K_v @ R_v @ torch.linalg.inv(K)
        R, t, K = R_v @ R, (R_v @ t[..., None])[..., 0], K_v
    flipped_R, flipped_t, flipped_K = flip_labels(R, t, K, size)
    mirror = torch.tensor([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).to(H)
    pick = flip.view(-1, 1, 1)
    H = torch.where(pick, mirror @ H, H)
    R, K = torch.where(pick, flipped_R, R), torch.where(pick, flipped_K, K)
    t = torch.where(flip.view(-1, 1), flipped_t, t)
    rolled_R, rolled_t, rolled_K = roll_labels(R, t, K, theta, size)
    H = rolled_K @ roll_matrix(theta).to(H) @ torch.linalg.inv(K) @ H
    return warp_images(images, H), rolled_R, rolled_t, rolled_K


def geometric_augment(batch: dict[str, Tensor], cfg: AugmentSection, generator: torch.Generator) -> None:
    """In place: virtual crop camera and random roll/flip of ``anchor`` and ``query`` (float [B, 3, H, W])
    with exact labels; R_rel and t_rel are recomputed from the transformed views."""
    if not cfg.virtual_camera and cfg.roll_deg <= 0 and cfg.flip_prob <= 0:
        return
    for image_key, suffix in (("anchor", "a"), ("query", "q")):
        n = batch[image_key].shape[0]
        theta = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(cfg.roll_deg)
        flip = torch.rand(n, generator=generator) < cfg.flip_prob
        device = batch[image_key].device
        image, R, t, K = transform_view(
            batch[image_key], batch[f"R_{suffix}"], batch[f"t_{suffix}"], batch[f"K_{suffix}"],
            theta.to(device), flip.to(device), cfg.virtual_camera,
        )  # fmt: skip
        batch[image_key], batch[f"R_{suffix}"], batch[f"t_{suffix}"], batch[f"K_{suffix}"] = image, R, t, K
    _relative_labels(batch)


def view_camera_labels(batch: dict[str, Tensor]) -> None:
    """In place: the labels of ``anchor`` and ``query`` turned into each head's view camera, the camera
    turned to look at the skull's centre (K and the pixels stay): what an estimator that sees only the crop
    can know. The tracker maps poses back (:func:`hpe_ros.geometry.frames.head_view_rotation`)."""
    for suffix in ("a", "q"):
        R, t = batch[f"R_{suffix}"], batch[f"t_{suffix}"]
        R_v = ray_onto_axis(t + R @ torch.tensor(HEAD_CENTRE_M, dtype=R.dtype, device=R.device))
        batch[f"R_{suffix}"], batch[f"t_{suffix}"] = R_v @ R, (R_v @ t[..., None])[..., 0]
    _relative_labels(batch)


def _relative_labels(batch: dict[str, Tensor]) -> None:
    R_rel = batch["R_q"] @ batch["R_a"].transpose(-1, -2)
    batch["R_rel"] = R_rel
    batch["t_rel"] = batch["t_q"] - (R_rel @ batch["t_a"][..., None])[..., 0]


def gaussian_blur(images: Tensor, sigma: Tensor) -> Tensor:
    """Per-image separable Gaussian blur of images [N, C, H, W] with sigmas [N] (pixels)."""
    radius = max(1, math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma.clamp_min(1e-3)[:, None]) ** 2)
    kernel = kernel / kernel.sum(-1, keepdim=True)  # [N, k]
    n, c, h, w = images.shape
    x = images.reshape(1, n * c, h, w)
    weights = kernel.repeat_interleave(c, dim=0)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), weights[:, None, None, :], groups=n * c)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), weights[:, None, :, None], groups=n * c)
    return x.reshape(n, c, h, w)


def photometric_augment(images: Tensor, cfg: AugmentSection, generator: torch.Generator) -> Tensor:
    """Colour jitter and cast, grey, blur, noise on float images [N, 3, H, W] in [0, 1], drawn per image."""
    if not cfg.photometric:
        return images
    n = images.shape[0]

    def uniform(spread: float, channels: int = 1) -> Tensor:
        draw = torch.rand(n, channels, generator=generator) * 2 - 1
        return (1 + draw * spread).to(images).view(n, channels, 1, 1)

    def chance(p: float) -> Tensor:
        return (torch.rand(n, generator=generator) < p).to(images.device).view(n, 1, 1, 1)

    grey_weights = torch.tensor(GREY_WEIGHTS).to(images).view(1, 3, 1, 1)
    images = images * uniform(cfg.brightness) * uniform(cfg.colour_cast, 3)
    mean = images.mean((1, 2, 3), keepdim=True)
    images = (images - mean) * uniform(cfg.contrast) + mean
    grey = (images * grey_weights).sum(1, keepdim=True)
    images = (images - grey) * uniform(cfg.saturation) + grey
    images = torch.where(chance(cfg.grey_prob), grey.expand_as(images), images)
    sigma = torch.rand(n, generator=generator).to(images) * cfg.blur_sigma
    blur = chance(cfg.blur_prob)
    if cfg.blur_sigma > 0 and bool(blur.any()):
        images = torch.where(blur, gaussian_blur(images, sigma), images)
    noise_std = torch.rand(n, generator=generator).to(images).view(n, 1, 1, 1) * cfg.noise_std
    noise = torch.randn(images.shape, generator=generator).to(images) * noise_std
    images = images + noise * chance(cfg.noise_prob)
    return images.clamp(0, 1)
