"""hpe_ros: ament_python ROS 2 package and the pip-installable library + `hpe` CLI (one setup.py)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "hpe_ros"

# What the node and `hpe track` need at run time (no torch): ONNX Runtime runs the embedded model, whose graph
# is assembled from our landmark-head ONNX and the face-mesh network of the mediapipe wheel (`tflite` reads
# it, `onnx` writes it). Pinned so that a plain `pip install` resolves to a working set:
# mediapipe 0.10.14 is the last wheel that carries the face models; it needs numpy<2 and protobuf 4.x;
# OpenCV 4.12+ needs numpy>=2; onnx 1.17 is the newest onnx that still runs on protobuf 4.x.
RUNTIME = [
    "setuptools",
    "mediapipe==0.10.14",
    "numpy>=1.26,<2",
    "protobuf>=4.25.3,<5",
    "opencv-contrib-python>=4.9,<4.12",
    "onnxruntime>=1.17",
    "onnx>=1.16,<1.18",
    "tflite>=2.10",
    "scipy>=1.11",
    "safetensors>=0.4",
    "pyyaml>=6",
    "tqdm>=4.66",
    "rich>=13",
    "matplotlib>=3.8",
    "rosbags>=0.10",
    "mcap>=1.1",
]
# Building a network in PyTorch (training, export, the torch backend); the runtime never needs it.
TORCH = ["torch>=2.3"]
EXTRAS = {
    "torch": TORCH,
    "export": [*TORCH, "onnxscript>=0.1"],
    "train": [*TORCH, "peft>=0.11", "tensorboard>=2.15"],
    "synth": ["moderngl>=5.10", "scikit-image>=0.22", "pillow>=10"],
    "trt": ["tensorrt>=10", *TORCH],
    "test": ["pytest", "catkin_pkg>=1.0", "colcon-common-extensions", "ruff", "mcap-ros2-support>=0.5"],
}
# Everything a developer or CI needs (TensorRT excluded: its builder is not on every registry).
EXTRAS["dev"] = sorted({req for name, reqs in EXTRAS.items() if name != "trt" for req in reqs})

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Real-time relative head-pose tracking for robots: ROS 2 node and the `hpe` CLI",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={
        PACKAGE: [
            "models/*.safetensors",
            "models/*.onnx",
            "models/*.md",
            "models/*.png",
            "interfaces/*.msg",
            "assets/*",
        ]
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
    ],
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    zip_safe=False,
    maintainer="hpe_ros team",
    maintainer_email="hpe-ros@example.org",
    entry_points={
        "console_scripts": [
            "hpe = hpe_ros.cli:main",
            "tracker_node = hpe_ros.node:main",
        ],
    },
)
