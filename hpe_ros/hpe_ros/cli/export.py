"""``hpe export``: a checkpoint (or a named config with random weights) to validated ONNX."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export the network to ONNX (checked with onnx.checker and ORT-vs-torch parity)",
        description="Export to ONNX: inputs anchor/query [B,3,H,W] float RGB in [0,1], outputs "
        "rotation [B,3,3], translation [B,3]; dynamic batch, static image size. Mode 'all' writes OUT "
        "(relative) and its companions OUT.<mode>.onnx, the family the engines load together.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--model", default="default", help="checkpoint (.safetensors) to export (default: the embedded model)"
    )
    source.add_argument("--config", help="named model config, random weights (for benchmarks and tests)")
    parser.add_argument("--out", required=True, help="output .onnx path (relative mode)")
    parser.add_argument(
        "--mode",
        choices=["all", "relative", "absolute", "anchor_tokens", "relative_cached"],
        default="all",
        help="'all': relative + absolute, plus the cached-anchor pair when the config has frame-only blocks",
    )
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 17; default 18)")
    parser.add_argument("--seed", type=int, default=0, help="random-weight seed with --config")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from hpe_ros.engine.cache import sha256_file
    from hpe_ros.engine.deploy import export_modes
    from hpe_ros.engine.export import export_validated
    from hpe_ros.engine.metadata import companion_path
    from hpe_ros.model import HeadPoseNet, get_config, load_checkpoint
    from hpe_ros.model.default import resolve_model

    if not args.config:
        path = resolve_model(args.model)
        net, config, _meta = load_checkpoint(path)
        source = f"sha256:{sha256_file(path)}"
    else:
        config = get_config(args.config)
        torch.manual_seed(args.seed)
        net, source = HeadPoseNet(config).eval(), f"random-init:seed={args.seed}"
    modes = export_modes(config) if args.mode == "all" else [args.mode]
    for mode in modes:
        path = companion_path(args.out, mode) if args.mode == "all" else args.out
        report = export_validated(net, config, path, mode, args.opset, source)
        print(f"{path}: {mode}, config {config.name}, opset {args.opset}; {report.summary()}")
    return 0
