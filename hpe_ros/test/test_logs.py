"""Third-party log lines are dropped by default; errors, Python's own output and ``--verbose`` get through."""

import os
import subprocess
import sys
import textwrap

from hpe_ros.cli import build_parser
from hpe_ros.logs import forward_native_lines

NOISE = [
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"W0000 00:00:1796294446.128005    4629 inference_feedback_manager.cc:114] Feedback manager requires",
    b"I0000 00:00:1796294446.128005    4629 gl_context.cc:357] GL version: 3.2",
]
KEPT = [b"E0000 00:00:1796294446.128005    4629 calculator_graph.cc:887] a real error", b"Segmentation fault"]


def test_native_noise_is_dropped_and_the_rest_forwarded(tmp_path):
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"\n".join([NOISE[0], KEPT[0], *NOISE[1:], KEPT[1]]))  # the last line unterminated
    os.close(write_fd)
    with (tmp_path / "out").open("wb") as out:
        forward_native_lines(read_fd, out.fileno())
    assert (tmp_path / "out").read_bytes() == KEPT[0] + b"\n" + KEPT[1]


SCRIPT = textwrap.dedent(
    """
    import os, sys
    from hpe_ros.logs import quiet_third_party
    with quiet_third_party(verbose=sys.argv[1] == "verbose"):
        os.write(2, b"%s\\n%s\\n")
        print("progress from python", file=sys.stderr)
    print("after the block", file=sys.stderr)
    """
) % (NOISE[2].decode(), KEPT[0].decode())


def run_script(mode: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, env=env, check=True)
    return done.stderr.decode()


def test_quiet_block_filters_the_native_stderr_only():
    quiet = run_script("quiet")
    assert "inference_feedback_manager" not in quiet
    assert "a real error" in quiet and "progress from python" in quiet and "after the block" in quiet
    assert "inference_feedback_manager" in run_script("verbose")


def test_verbose_is_a_global_flag():
    parser = build_parser()
    assert parser.parse_args(["--verbose", "soak", "x.mp4", "--out", "o"]).verbose
    assert not parser.parse_args(["soak", "x.mp4", "--out", "o"]).verbose
