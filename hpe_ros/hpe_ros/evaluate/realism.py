"""The realism meter: how networks trained on real photos see our renders, next to how they see real faces.

A fixed seeded set of single views of held-out identities goes through the training render path (identity,
outfit, lighting, background, degradations of :class:`~hpe_ros.synth.sampler.PairSampler`) on a
:data:`CANVAS_PX` canvas whose central :data:`FACE_MESH_PX` square is framed exactly as a training crop (the
head near the optical axis, the square centred on the face box). Poses (BIWI range, AFLW2000-like spread):
yaw uniform in ±:data:`YAW_MAX_DEG`, pitch and roll normal with σ :data:`PITCH_SIGMA_DEG` /
:data:`ROLL_SIGMA_DEG`, clipped to ±60° / ±50°. Measured per view, and per |yaw| bin (0–30, 30–60,
60–99, by AFLW2000 yaw):

- face-mesh presence: MediaPipe's face mesh (``hpe_ros.model.face_mesh``) on the central square, logit > 0;
- FSA-Net's geodesic error, cropped as the AFLW2000 harness does (``landmarks`` protocol: the tight box of
  the visible annotated points, here the projected semantic points of :mod:`hpe_ros.synth.facepoints`);
- face-mesh landmark error (NME): eight semantic points (eye corners, nose tip, mouth corners, chin) of the
  face mesh against the exactly projected MakeHuman vertices that carry them, divided by the 3-D
  outer-eye-corner distance in pixels.

The same three figures are measured on the AFLW2000-3D dev split (face mesh on the crop our networks use,
landmark error against ``pt3d_68``). ``fsanet_ratio`` divides the synthetic geodesic, re-weighted to the real
split's |yaw| bin shares, by the real one (pose-matched); ``fsanet_ratio_raw`` does not re-weight.
``presence_rate`` is over the synthetic set as drawn; ``presence_rate_matched`` re-weights it the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hpe_ros.detect import Detection
from hpe_ros.errors import InputError
from hpe_ros.evaluate.harness import aflw_angles_deg
from hpe_ros.evaluate.network import network_crop_box
from hpe_ros.geometry import geodesic_deg, head_rotation_from_biwi
from hpe_ros.geometry.frames import HEAD_CENTRE_M
from hpe_ros.synth.facepoints import LANDMARK_NAMES, OUTER_EYES, POINT_NAMES, SEMANTIC_POINTS, face_box
from hpe_ros.synth.preview import project
from hpe_ros.synth.sampler import EVAL_IDENTITY_BASE, PairSampler, ViewParams, torso_rotation

YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 99.0))
YAW_MAX_DEG, PITCH_SIGMA_DEG, PITCH_MAX_DEG, ROLL_SIGMA_DEG, ROLL_MAX_DEG = 75.0, 15.0, 60.0, 10.0, 50.0
FACE_MESH_PX = 192
CANVAS_PX = 320  # room for FSA-Net's 0.6-per-side enlargement of the tight box around the face-mesh square
METER_SEED_SALT = 0x5EA1
DEFAULT_COUNT = 150


def yaw_bin(yaw_deg: float) -> str | None:
    """The label ``"0-30"`` … of the |yaw| bin of an AFLW2000 yaw, None beyond 99°."""
    for low, high in YAW_BINS:
        if low <= abs(yaw_deg) < high or (high == YAW_BINS[-1][1] and abs(yaw_deg) == high):
            return f"{low:.0f}-{high:.0f}"
    return None


def meter_rotation(rng: np.random.Generator) -> np.ndarray:
    """R_cam←head of one meter view (see the module docstring for the distribution)."""
    yaw = rng.uniform(-YAW_MAX_DEG, YAW_MAX_DEG)
    pitch = np.clip(rng.normal(0, PITCH_SIGMA_DEG), -PITCH_MAX_DEG, PITCH_MAX_DEG)
    roll = np.clip(rng.normal(0, ROLL_SIGMA_DEG), -ROLL_MAX_DEG, ROLL_MAX_DEG)
    return head_rotation_from_biwi(float(yaw), float(pitch), float(roll))


def meter_view(view: ViewParams, face: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> ViewParams:
    """``view`` re-posed for the meter: a meter rotation, the head centre near the canvas's optical axis at
    the sampled distance, the torso redrawn, the central :data:`FACE_MESH_PX` square framed exactly as the
    real crops are (:func:`~hpe_ros.evaluate.network.network_crop_box` of the face box: the tight box of the
    visible AFLW-21-like points, ``FACE_BOX_MARGIN`` of its longer side added on each side).

    (The meter first framed it by 0.27 m of head per side, as training crops then were: the face filled
    20 % less of the square than in the real crops it is compared with, and the face mesh found fewer faces
    for that reason alone.)"""
    distance = float(np.linalg.norm(view.R @ HEAD_CENTRE_M + view.t))
    R = meter_rotation(rng)
    rng.uniform()  # the former crop-size jitter's draw: keeps the views paired with earlier meter runs
    focal = FACE_MESH_PX * distance / 0.27  # provisional: rescaled below
    centre = (CANVAS_PX - 1) / 2
    t = np.array([0.0, 0.0, distance]) - R @ HEAD_CENTRE_M
    K = np.array([[focal, 0.0, centre], [0.0, focal, centre], [0.0, 0.0, 1.0]])
    square = network_crop_box(Detection(*face_box(*face, R, t, K), 1.0))
    K[:2] *= FACE_MESH_PX / square.side  # the face box scales with the focal length about the axis
    x0, y0, x1, y1 = face_box(*face, R, t, K)
    K[:2, 2] += centre - np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    side = view.crop_side_px * CANVAS_PX / FACE_MESH_PX  # same camera resolution per head as in training
    torso = torso_rotation(rng, R, "biwi")
    return ViewParams(
        R, t, K, side, view.expression, torso, view.lighting, view.background_seed, view.degradation
    )


def landmark_nme(predicted: np.ndarray, truth: np.ndarray, eye_distance_px: float) -> float:
    """Mean point error (pixels) divided by the outer-eye-corner distance (pixels)."""
    return float(np.mean(np.linalg.norm(predicted - truth, axis=1)) / max(eye_distance_px, 1e-6))


def face_mesh_batch(face_mesh, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(landmarks [N, 468, 3] in crop pixels, presence logits [N]) of RGB uint8 192×192 crops."""
    import torch

    if not crops:
        return np.zeros((0, 468, 3), np.float32), np.zeros(0, np.float32)
    batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        landmarks, presence = face_mesh(batch)
    return landmarks.numpy(), presence.numpy()


@dataclass
class ViewResult:
    """What the meter measured on one image (synthetic or real)."""

    yaw_deg: float  # AFLW2000 yaw of the true rotation
    presence_logit: float
    fsanet_geodesic_deg: float
    landmark_nme: float


def measure_synthetic(
    count: int, seed: int, cache: str | os.PathLike | None, fsanet, face_mesh, degrade: bool, progress: bool
) -> tuple[list[ViewResult], list[np.ndarray]]:
    """Render the meter's ``count`` views and measure them; also returns contact-sheet tiles."""
    from tqdm import tqdm

    from hpe_ros.synth.generator import PairRenderer

    renderer = PairRenderer(size=CANVAS_PX, cache=cache)
    sampler = PairSampler(
        renderer.model,
        FACE_MESH_PX,
        "biwi",
        "any",
        seed,
        (EVAL_IDENTITY_BASE, EVAL_IDENTITY_BASE + count),
        degrade,
    )
    mesh_rows = [POINT_NAMES.index(n) for n in LANDMARK_NAMES]
    mesh_ids = [SEMANTIC_POINTS[n].face_mesh for n in LANDMARK_NAMES]
    eyes = [POINT_NAMES.index(n) for n in OUTER_EYES]
    low = (CANVAS_PX - FACE_MESH_PX) // 2
    results, tiles = [], []
    try:
        for index in tqdm(range(count), desc="realism renders", unit="img", disable=not progress):
            pair = sampler.sample(index)
            points, normals = sampler.face_points.posed(pair.identity, pair.query.expression)
            view = meter_view(
                pair.query, (points, normals), np.random.default_rng([METER_SEED_SALT, seed, index])
            )
            image = renderer.render_view(pair, view)
            box = Detection(*face_box(points, normals, view.R, view.t, view.K), 1.0)
            R_fsa = fsanet.estimate(image, box)
            crop = np.ascontiguousarray(image[low : low + FACE_MESH_PX, low : low + FACE_MESH_PX])
            landmarks, presence = face_mesh_batch(face_mesh, [crop])
            pixels = project(points, view.R, view.t, view.K)
            depth = float((points @ view.R.T + view.t)[:, 2].mean())
            eye_px = view.K[0, 0] * np.linalg.norm(points[eyes[0]] - points[eyes[1]]) / depth
            truth = pixels[mesh_rows] - low
            nme = landmark_nme(landmarks[0, mesh_ids, :2], truth, eye_px)
            yaw = float(aflw_angles_deg(view.R)[1])
            result = ViewResult(yaw, float(presence[0]), float(geodesic_deg(R_fsa, view.R)), nme)
            results.append(result)
            tiles.append(_tile(image, box, truth + low, landmarks[0, mesh_ids, :2] + low, result))
    finally:
        renderer.close()
    return results, tiles


def measure_real(
    data_dir: Path, fsanet, face_mesh, progress: bool, limit: int | None = None
) -> list[ViewResult]:
    """The meter's figures on an AFLW2000-3D split (``SPLIT.txt`` in ``data_dir``; its first ``limit``
    images), cropped as the harness does."""
    from tqdm import tqdm

    from hpe_ros.crop import network_input
    from hpe_ros.evaluate.aflw2000 import load_aflw2000, read_image_rgb
    from hpe_ros.evaluate.harness import evaluate_absolute, landmark_face
    from hpe_ros.evaluate.network import network_crop_box

    samples = load_aflw2000(data_dir, data_dir / "SPLIT.txt")[:limit]
    scored = evaluate_absolute(fsanet, samples, "landmarks", progress=progress)
    ibug = [SEMANTIC_POINTS[n].ibug68 for n in LANDMARK_NAMES]
    mesh_ids = [SEMANTIC_POINTS[n].face_mesh for n in LANDMARK_NAMES]
    eyes = [SEMANTIC_POINTS[n].ibug68 for n in OUTER_EYES]
    results = []
    for sample, score in tqdm(
        list(zip(samples, scored, strict=True)), desc="realism real", unit="img", disable=not progress
    ):
        box = network_crop_box(landmark_face(sample.pt2d))
        crop = network_input(read_image_rgb(sample.image_path), box, FACE_MESH_PX)
        crop_u8 = np.clip(crop.transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
        landmarks, presence = face_mesh_batch(face_mesh, [crop_u8])
        scale = box.scale(FACE_MESH_PX)
        truth = (sample.pt3d_68[:2, ibug].T - (box.x0, box.y0)) / scale - 0.5
        eye_px = np.linalg.norm(sample.pt3d_68[:, eyes[0]] - sample.pt3d_68[:, eyes[1]]) / scale
        nme = landmark_nme(landmarks[0, mesh_ids, :2], truth, eye_px)
        results.append(ViewResult(float(sample.angles_deg[1]), float(presence[0]), score.geodesic_deg, nme))
    return results


def summarize_views(results: list[ViewResult]) -> dict:
    """n, presence rate, FSA-Net geodesic and landmark NME over ``results``, overall and per |yaw| bin."""

    def figures(rows: list[ViewResult]) -> dict:
        if not rows:
            return {"n": 0}
        return {
            "n": len(rows),
            "presence_rate": float(np.mean([r.presence_logit > 0 for r in rows])),
            "fsanet_geodesic_deg": float(np.mean([r.fsanet_geodesic_deg for r in rows])),
            "landmark_nme": float(np.mean([r.landmark_nme for r in rows])),
        }

    bins = {f"{low:.0f}-{high:.0f}": [] for low, high in YAW_BINS}
    for r in results:
        label = yaw_bin(r.yaw_deg)
        if label:
            bins[label].append(r)
    return {**figures(results), "by_yaw_bin": {label: figures(rows) for label, rows in bins.items()}}


def matched(synthetic: dict, real: dict, key: str) -> float:
    """The synthetic figure ``key`` re-weighted to the real split's |yaw| bin shares (bins both have)."""
    shared = [b for b, s in synthetic["by_yaw_bin"].items() if s["n"] and real["by_yaw_bin"][b]["n"]]
    if not shared:
        raise InputError("the synthetic and real sets share no |yaw| bin")
    weights = np.array([real["by_yaw_bin"][b]["n"] for b in shared], float)
    values = np.array([synthetic["by_yaw_bin"][b][key] for b in shared])
    return float(weights @ values / weights.sum())


def run_realism(
    json_path: str | Path,
    count: int = DEFAULT_COUNT,
    seed: int = 0,
    cache: str | os.PathLike | None = None,
    data_dir: str | Path | None = None,
    fsanet_dir: str | Path | None = None,
    degrade: bool = True,
    progress: bool = True,
    real_limit: int | None = None,
) -> dict:
    """Measure the renders and the real dev split (its first ``real_limit`` images, default all); write the
    JSON and a contact sheet PNG beside it."""
    from hpe_ros.evaluate.fsanet import FsaNetEstimator
    from hpe_ros.evaluate.paths import shared_dir
    from hpe_ros.evaluate.report import ensure_output_dir
    from hpe_ros.model.face_mesh import FaceMesh

    if count < 1:
        raise InputError(f"--count must be positive, got {count}")
    data_dir = Path(data_dir or shared_dir() / "data" / "aflw2000-3d-dev")
    fsanet_dir = Path(fsanet_dir or shared_dir() / "baselines" / "fsanet")
    if not (data_dir / "SPLIT.txt").is_file():
        raise InputError(f"{data_dir} has no SPLIT.txt (the AFLW2000-3D dev split; set --data or HPE_SHARED)")
    ensure_output_dir(json_path)
    fsanet, face_mesh = FsaNetEstimator(fsanet_dir), FaceMesh().eval()
    real = summarize_views(measure_real(data_dir, fsanet, face_mesh, progress, real_limit))
    views, tiles = measure_synthetic(count, seed, cache, fsanet, face_mesh, degrade, progress)
    synthetic = summarize_views(views)
    geodesic = matched(synthetic, real, "fsanet_geodesic_deg")
    sheet_path = Path(json_path).with_suffix(".png")
    cv2.imwrite(str(sheet_path), cv2.cvtColor(contact_sheet(tiles), cv2.COLOR_RGB2BGR))
    summary = {
        "task": "realism",
        "count": count,
        "seed": seed,
        "degrade": degrade,
        "poses": {
            "yaw": f"uniform ±{YAW_MAX_DEG:g}",
            "pitch": f"normal σ {PITCH_SIGMA_DEG:g} clipped ±{PITCH_MAX_DEG:g}",
            "roll": f"normal σ {ROLL_SIGMA_DEG:g} clipped ±{ROLL_MAX_DEG:g}",
            "convention": "BIWI angles; bins by AFLW2000 yaw",
        },
        "presence_rate": synthetic["presence_rate"],
        "presence_rate_matched": matched(synthetic, real, "presence_rate"),
        "presence_rate_real": real["presence_rate"],
        "fsanet_geodesic_synth": geodesic,
        "fsanet_geodesic_synth_raw": synthetic["fsanet_geodesic_deg"],
        "fsanet_geodesic_real": real["fsanet_geodesic_deg"],
        "fsanet_ratio": geodesic / real["fsanet_geodesic_deg"],
        "fsanet_ratio_raw": synthetic["fsanet_geodesic_deg"] / real["fsanet_geodesic_deg"],
        "landmark_nme_synth": synthetic["landmark_nme"],
        "landmark_nme_synth_matched": matched(synthetic, real, "landmark_nme"),
        "landmark_nme_real": real["landmark_nme"],
        "synthetic": synthetic,
        "real": {"data": str(data_dir), "limit": real_limit, **real},
        "contact_sheet": str(sheet_path),
    }
    Path(json_path).write_text(json.dumps(summary, indent=1))
    return summary


def _tile(image: np.ndarray, box: Detection, truth: np.ndarray, found: np.ndarray, result: ViewResult):
    """One contact-sheet tile: the render, FSA-Net's box, true points (green), face-mesh points (red)."""
    tile = np.ascontiguousarray(image.copy())
    cv2.rectangle(tile, (round(box.x0), round(box.y0)), (round(box.x1), round(box.y1)), (255, 255, 0), 1)
    for points, colour in ((truth, (40, 255, 40)), (found, (255, 40, 40))):
        for u, v in points:
            cv2.circle(tile, (round(float(u)), round(float(v))), 2, colour, -1, cv2.LINE_AA)
    text = f"yaw {result.yaw_deg:+.0f} p {result.presence_logit:+.1f} fsa {result.fsanet_geodesic_deg:.0f}"
    cv2.putText(tile, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def contact_sheet(tiles: list[np.ndarray], columns: int = 6, max_tiles: int = 36) -> np.ndarray:
    """A grid of the first ``max_tiles`` tiles, each at half size."""
    small = [cv2.resize(t, (t.shape[1] // 2, t.shape[0] // 2), interpolation=cv2.INTER_AREA) for t in tiles]
    small = small[:max_tiles]
    while len(small) % columns:
        small.append(np.zeros_like(small[0]))
    return np.vstack([np.hstack(small[i : i + columns]) for i in range(0, len(small), columns)])
