"""hpe_ros: real-time head-pose tracking for robots by relative pose prediction.

Only :mod:`hpe_ros.node` imports ROS; everything else runs and is tested without it.
"""

__version__ = "0.1.0"
