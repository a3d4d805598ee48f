"""``hpe build-engine``: a TensorRT engine (FP16 by default) from an exported ONNX, with the engine cache."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build-engine",
        help="build (or validate) the TensorRT engine of an exported ONNX",
        description="Build a TensorRT engine per mode file (x.onnx, x.absolute.onnx) with an "
        "optimisation profile over the pair batch and a timing cache. A cached engine whose key (ONNX "
        "sha256, TensorRT version, GPU, build settings) still matches is kept unless --force-engine-update.",
    )
    parser.add_argument("--model-file-path", "--onnx", dest="onnx", required=True, help="relative-mode .onnx")
    parser.add_argument("--engine-file-path", "--engine", dest="engine", help="engine path (default: cache)")
    parser.add_argument("--fp32", action="store_true", help="disable FP16 (enable_fp16=False)")
    parser.add_argument("--max-workspace-size", type=int, default=2 << 30, help="builder workspace, bytes")
    parser.add_argument(
        "--batch-profile", type=int, nargs=3, default=[1, 4, 16], metavar=("MIN", "OPT", "MAX"), help="batch"
    )
    parser.add_argument("--timing-cache", help="timing cache file (default: in the cache dir)")
    parser.add_argument("--force-engine-update", action="store_true", help="rebuild even if cached")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hpe_ros.engine import open_engine

    engine = open_engine(
        args.onnx,
        backend="tensorrt",
        engine_file_path=args.engine,
        force_engine_update=args.force_engine_update,
        enable_fp16=not args.fp32,
        max_workspace_size=args.max_workspace_size,
        batch_profile=tuple(args.batch_profile),
        timing_cache_path=args.timing_cache,
    )
    print(engine.describe())
    return 0
