"""Inputs and outputs of ``hpe track``: frame sources and the CSV, annotated-video and ROS 2 bag writers.

Import the submodules directly (``hpe_ros.io.bag`` needs rosbags, ``hpe_ros.io.video`` OpenCV).
"""
