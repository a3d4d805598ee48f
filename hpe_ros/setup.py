"""hpe_ros: ament_python ROS 2 package and the pip-installable library + `hpe` CLI (one setup.py)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "hpe_ros"

# What the node and `hpe track` need at run time: no training, rendering or export dependency.
RUNTIME = [
    "setuptools",
    "numpy>=1.26",
    "scipy>=1.11",
    "transforms3d>=0.4",
    "opencv-contrib-python>=4.9",
    "onnxruntime>=1.17",
    "safetensors>=0.4",
    "pyyaml>=6",
    "tqdm>=4.66",
    "rich>=13",
    "matplotlib>=3.8",
    "rosbags>=0.10",
    "mcap>=1.1",
    "mediapipe>=0.10.14",
]
# Building a network (torch) needs `tflite` to read the face-mesh front end of the mesh configs from the
# mediapipe wheel; an exported ONNX model holds it and needs neither.
TORCH = ["torch>=2.3", "tflite>=2.10"]
EXTRAS = {
    "torch": TORCH,
    "export": [*TORCH, "onnx>=1.16", "onnxscript>=0.1"],
    "train": [*TORCH, "peft>=0.11", "tensorboard>=2.15"],
    "synth": ["moderngl>=5.10", "scikit-image>=0.22", "pillow>=10"],
    "trt": ["tensorrt>=10", *TORCH, "onnx>=1.16"],
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
        PACKAGE: ["models/*.safetensors", "models/*.md", "models/*.png", "interfaces/*.msg", "assets/*"]
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
