"""ROS-free logic behind the ROS 2 node (:mod:`hpe_ros.node`), importable and tested without ROS.

``encodings`` (sensor_msgs/Image bytes -> numpy), ``messages`` (frame names and message field values shared
with the bag writer), ``qos`` (QoS choices as data), ``diagnostics`` (status level and key/values),
``worker`` (one inference thread that drops frames instead of queueing them), ``parameters`` (the
declaration table with descriptions and validation), ``inputs`` (intrinsics from camera_info or a default
field of view; depth and external detections paired with an image by stamp).
"""
