"""ROS 2 message types without ROS: a rosbags typestore with the standard types and our hpe_msgs.

The .msg files of the ``hpe_msgs`` package are the single source of truth; the Python package reaches
them through ``hpe_ros/interfaces/`` (links into ``hpe_msgs/msg``, installed as package data), so bags
written by ``hpe track`` carry exactly the definitions the ROS node publishes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

HPE_MSGS_PACKAGE = "hpe_msgs"
MESSAGE_NAMES = ("HeadPose", "HeadPoseArray")


def message_definitions() -> dict[str, str]:
    """The .msg text of each hpe_msgs message, keyed by its full type name (``hpe_msgs/msg/HeadPose``)."""
    folder = resources.files("hpe_ros") / "interfaces"
    return {
        f"{HPE_MSGS_PACKAGE}/msg/{name}": (folder / f"{name}.msg").read_text(encoding="utf-8")
        for name in MESSAGE_NAMES
    }


@cache
def make_typestore(store: Stores = Stores.ROS2_JAZZY) -> Typestore:
    """A typestore of the given ROS 2 distribution with hpe_msgs registered (shared, do not mutate)."""
    typestore = get_typestore(store)
    types = {}
    for typename, text in message_definitions().items():
        types.update(get_types_from_msg(text, typename))
    typestore.register(types)
    return typestore
