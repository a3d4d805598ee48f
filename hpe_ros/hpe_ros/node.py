"""The ROS 2 node ``tracker_node`` (node name ``hpe_tracker``): a thin rclpy shell around the tracker.

Subscribes ``image`` (sensor_msgs/Image), ``camera_info``, optionally ``depth`` (``use_depth``) and
``detections`` (vision_msgs/Detection2DArray, with ``detector: external``); publishes ``head_pose``
(geometry_msgs/PoseStamped of the primary face), ``head_poses`` (hpe_msgs/HeadPoseArray), TF ``face_<id>`` and
``gaze_<id>`` (REP-155), ``/diagnostics`` once per ``diagnostics_period_s``, and ``debug_image`` and
``markers`` only while someone subscribes. Where hri_msgs is installed, also the ROS4HRI face topics
``/humans/faces/tracked`` and ``/humans/faces/<id>/roi`` (:func:`hpe_ros.io.messages.hri_faces_fields`).
Inference runs on one worker thread; a frame arriving while one is pending replaces it (counted as
dropped), so callbacks never block and nothing queues.

The only module of hpe_ros that imports ROS; everything it decides is in :mod:`hpe_ros.ros` (tested
without ROS). Images are decoded from their bytes (no cv_bridge).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TransformStamped
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.logging import get_logger
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosidl_runtime_py import set_message_fields
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import Trigger
from tf2_ros import TransformBroadcaster
from visualization_msgs.msg import MarkerArray

from hpe_msgs.msg import HeadPoseArray
from hpe_ros.camera import intrinsics_for_image
from hpe_ros.config import ParameterSpec
from hpe_ros.detect import Detection, ExternalDetections
from hpe_ros.errors import HpeError, InputError
from hpe_ros.io.messages import (
    HRI_TRACKED_TOPIC,
    bgr8_image_fields,
    face_transforms_fields,
    head_pose_array_fields,
    header_fields,
    hri_faces_fields,
    hri_roi_topic,
    marker_array_fields,
    primary_pose_stamped_fields,
    stamp_ns_of,
)
from hpe_ros.io.video import draw_result
from hpe_ros.pipeline import open_runtime
from hpe_ros.results import FrameResult
from hpe_ros.ros.diagnostics import IntrinsicsSource, NodeHealth
from hpe_ros.ros.encodings import UnsupportedEncodingError, depth_from_image, rgb_from_image
from hpe_ros.ros.inputs import Stamped, detection_from_centre, paired
from hpe_ros.ros.parameters import (
    frame_naming,
    parameter_problems,
    parameter_table,
    settings_from_parameters,
)
from hpe_ros.ros.qos import INPUT_TOPICS, OUTPUT_TOPICS, RELIABLE_OUTPUT, QosChoice
from hpe_ros.ros.worker import DropInFlightWorker
from hpe_ros.tracker import HeadPoseTracker, TrackerConfig

NODE_NAME = "hpe_tracker"


def qos_profile(choice: QosChoice) -> QoSProfile:
    """The rclpy profile of a :class:`~hpe_ros.ros.qos.QosChoice`."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=choice.depth,
        reliability=(
            ReliabilityPolicy.BEST_EFFORT
            if choice.reliability == "best_effort"
            else ReliabilityPolicy.RELIABLE
        ),
        durability=(
            DurabilityPolicy.TRANSIENT_LOCAL
            if choice.durability == "transient_local"
            else DurabilityPolicy.VOLATILE
        ),
    )


def parameter_descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """The ParameterDescriptor of one declared parameter (description, read-only, range when bounded)."""
    descriptor = ParameterDescriptor(
        description=spec.description, read_only=spec.read_only, additional_constraints=spec.constraints_text
    )
    if spec.minimum is not None and spec.maximum is not None:
        if isinstance(spec.default, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(spec.minimum), to_value=float(spec.maximum), step=0.0)
            ]
        else:
            descriptor.integer_range = [
                IntegerRange(from_value=int(spec.minimum), to_value=int(spec.maximum), step=0)
            ]
    return descriptor


@dataclass
class _Frame:
    image: Image
    camera_info: Stamped[CameraInfo] | None
    """The latest camera_info, stamped with its arrival (monotonic clock)."""
    depth: Stamped[Image] | None
    detections: Stamped[list[Detection]] | None


class HeadPoseNode(LifecycleNode):
    """Head-pose tracking as a lifecycle node (as ros4hri's face detector): parameters are declared at
    construction, the engine is opened in ``on_configure`` (a slow TensorRT build never blocks a launch),
    topics, TF and diagnostics live from ``on_activate`` to ``on_deactivate`` (a robot can pause tracking)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        table = parameter_table()
        for spec in table:
            try:
                self.declare_parameter(spec.name, spec.default, parameter_descriptor(spec))
            except ParameterException as error:  # a params-file value of the wrong type or out of range
                raise InputError(f"invalid parameter {spec.name}: {error}") from None
        self._values = {spec.name: self.get_parameter(spec.name).value for spec in table}
        parameters = settings_from_parameters(self._values)  # refuse a bad params file at once
        self.settings = parameters.settings
        self.naming = frame_naming(self.settings)
        self.tracker: HeadPoseTracker | None = None
        self.health: NodeHealth | None = None
        self.worker: DropInFlightWorker[_Frame] | None = None
        self._pending_config: TrackerConfig | None = None
        self._live: list[Any] = []  # subscriptions, publishers and the timer of the active state
        self.publishers_by_topic: dict[str, Any] = {}
        self._hri_types: tuple[type, type] | None = None  # hri_msgs IdsList, NormalizedRegionOfInterest2D
        self._hri_rois: dict[str, Any] = {}  # per-face roi publishers, by ROS4HRI id
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # -- lifecycle transitions ----------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Open the model's engine and the detector (an error leaves the node unconfigured, said as FATAL)."""
        parameters = settings_from_parameters(self._values)
        runtime = parameters.runtime
        try:
            self.get_logger().info(f"opening model {runtime.model_path()} (backend {runtime.backend})")
            engine, detector = open_runtime(runtime)
        except HpeError as error:
            self.get_logger().fatal(f"cannot configure: {error}")
            return TransitionCallbackReturn.FAILURE
        self.engine_info = engine.describe()
        self.get_logger().info(
            "engine ready: " + ", ".join(f"{key}={value}" for key, value in self.engine_info.items())
        )
        self.tracker = HeadPoseTracker(engine, detector, parameters.tracker)
        self._pending_config = None
        self.health = NodeHealth(self.engine_info, time.monotonic(), self.settings.default_horizontal_fov_deg)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe, advertise, start the inference thread and the diagnostics timer; tracks start afresh
        (a pause is no clock jump)."""
        self.tracker.reset()
        self._camera_info: Stamped[CameraInfo] | None = None
        self._depth: Stamped[Image] | None = None
        self._detections: Stamped[list[Detection]] | None = None
        self.publishers_by_topic = {
            topic: self.create_publisher(msg_type, topic, qos_profile(OUTPUT_TOPICS[topic][1]))
            for topic, msg_type in (
                ("head_pose", PoseStamped),
                ("head_poses", HeadPoseArray),
                ("/diagnostics", DiagnosticArray),
                ("debug_image", Image),
                ("markers", MarkerArray),
            )
        }
        self.tf_broadcaster = TransformBroadcaster(self)
        self._start_hri()
        inputs = [("image", Image, self._on_image), ("camera_info", CameraInfo, self._on_camera_info)]
        if self.settings.use_depth:
            inputs.append(("depth", Image, self._on_depth))
        if isinstance(self.tracker.detector, ExternalDetections):
            try:
                from vision_msgs.msg import Detection2DArray
            except ImportError:
                self.get_logger().fatal(
                    "detector 'external' reads vision_msgs/Detection2DArray: install vision_msgs "
                    "(apt install ros-$ROS_DISTRO-vision-msgs)"
                )
                return TransitionCallbackReturn.FAILURE
            inputs.append(("detections", Detection2DArray, self._on_detections))
        subscriptions = [
            self.create_subscription(msg_type, topic, callback, qos_profile(INPUT_TOPICS[topic][1]))
            for topic, msg_type, callback in inputs
        ]
        self.worker = DropInFlightWorker(
            self._process,
            on_drop=lambda _frame: self.health.frame_dropped(),
            on_error=self._on_worker_error,
        )
        timer = self.create_timer(self.settings.diagnostics_period_s, self._publish_diagnostics)
        calibrate = self.create_service(Trigger, "~/calibrate", self._on_calibrate)
        self._live = [*subscriptions, timer, calibrate]
        self.get_logger().info(
            f"tracking faces on {self.resolve_topic_name('image')} (detector "
            f"{self._values['detector']}, anchor policy {self.tracker.config.anchors.policy})"
        )
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop reading images and publishing; the engine is kept, the tracks restart at activate."""
        self._stop_activity()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the engine and the tracker."""
        self.tracker = self.health = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop whatever runs and release everything."""
        self._stop_activity()
        self.tracker = self.health = None
        return TransitionCallbackReturn.SUCCESS

    def _stop_activity(self) -> None:
        if self.worker is not None:
            self.worker.stop(timeout_s=5.0)
            self.worker = None
        for entity in self._live:
            if hasattr(entity, "cancel"):
                self.destroy_timer(entity)
            elif hasattr(entity, "srv_type"):
                self.destroy_service(entity)
            else:
                self.destroy_subscription(entity)
        for publisher in [*self.publishers_by_topic.values(), *self._hri_rois.values()]:
            self.destroy_publisher(publisher)
        if self.publishers_by_topic:
            self.destroy_publisher(self.tf_broadcaster.pub_tf)
        self._live, self.publishers_by_topic, self._hri_rois = [], {}, {}

    def _start_hri(self) -> None:
        """Advertise /humans/faces/tracked where hri_msgs is installed (ROS4HRI); without it, nothing."""
        try:
            from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D
        except ImportError:
            self.get_logger().info("hri_msgs is not installed: no ROS4HRI topics (/humans/faces/...)")
            return
        self._hri_types = (IdsList, NormalizedRegionOfInterest2D)
        self.publishers_by_topic[HRI_TRACKED_TOPIC] = self.create_publisher(
            IdsList, HRI_TRACKED_TOPIC, qos_profile(RELIABLE_OUTPUT)
        )
        if self.naming.hri_id(1) is None:
            self.get_logger().warn(
                "no ROS4HRI topics: they need face ids that start with a letter (face_id_prefix, default "
                "f) and the REP-155 frames face_<id> / gaze_<id> (face_frame_prefix face_, gaze_frame_prefix "
                "gaze_)"
            )

    # -- executor-thread callbacks: store or hand over, never block ----------------------------------------
    def _on_image(self, msg: Image) -> None:
        self.health.frame_received()
        self.worker.submit(_Frame(msg, self._camera_info, self._depth, self._detections))

    def _on_calibrate(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """~/calibrate: the primary face's current head rotation becomes its reference (TF face_ref_<id>)."""
        track_id = self.tracker.request_primary_calibration()
        response.success = track_id is not None
        response.message = (
            f"face {track_id} is calibrated on the next frame" if response.success else "no face"
        )
        return response

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = Stamped(time.monotonic_ns(), msg)

    def _on_depth(self, msg: Image) -> None:
        self._depth = Stamped(stamp_ns_of(msg.header.stamp), msg)

    def _on_detections(self, msg: Any) -> None:
        detections = []
        for item in msg.detections:
            centre = item.bbox.center
            position = getattr(centre, "position", centre)  # vision_msgs >= 4: Pose2D.position
            score = max((r.hypothesis.score for r in item.results), default=1.0)
            detections.append(
                detection_from_centre(position.x, position.y, item.bbox.size_x, item.bbox.size_y, score)
            )
        self._detections = Stamped(stamp_ns_of(msg.header.stamp), detections)

    def _on_set_parameters(self, parameters: list[Any]) -> SetParametersResult:
        values = {**self._values, **{p.name: p.value for p in parameters}}
        problems = parameter_problems(values)
        if problems:
            return SetParametersResult(successful=False, reason="; ".join(problems))
        parameters = settings_from_parameters(values)
        self.settings, config = parameters.settings, parameters.tracker
        self._values = values
        self.naming = frame_naming(self.settings)
        if self.tracker is not None and config != self.tracker.config:
            self._pending_config = config
            self.get_logger().info("tracker parameters changed: tracks restart on the next frame")
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        report = self.health.report(time.monotonic())
        status = DiagnosticStatus(
            level=bytes([report.level]),
            name=f"{self.get_name()}: head pose tracker",
            message=report.message,
            hardware_id=str(self.engine_info.get("device", "")),
            values=[KeyValue(key=key, value=value) for key, value in report.values],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.publishers_by_topic["/diagnostics"].publish(array)

    # -- worker thread ----------------------------------------------------------------------------------
    def _process(self, frame: _Frame) -> None:
        start = time.perf_counter()
        msg, settings = frame.image, self.settings
        stamp_ns = stamp_ns_of(msg.header.stamp)
        depth_msg = paired(frame.depth, stamp_ns, settings.sync_tolerance_s)
        try:
            image = rgb_from_image(msg)
            depth = None if depth_msg is None else depth_from_image(depth_msg)
        except UnsupportedEncodingError as error:
            self.health.unsupported_encoding(str(error))
            return
        info = None if frame.camera_info is None else frame.camera_info.value
        K, from_info = intrinsics_for_image(
            None if info is None else list(info.k),
            0 if info is None else info.width,
            0 if info is None else info.height,
            msg.width,
            msg.height,
            settings.default_horizontal_fov_deg,
        )
        tracker = self.tracker
        if isinstance(tracker.detector, ExternalDetections):
            tracker.detector.set(paired(frame.detections, stamp_ns, settings.sync_tolerance_s) or [])
        if self._pending_config is not None:
            config, self._pending_config = self._pending_config, None
            tracker = self.tracker = HeadPoseTracker(tracker.engine, tracker.detector, config)
        result = tracker.process(image, stamp_ns, K, depth)
        if result.reset:
            self.get_logger().warn("image stamp went back or jumped ahead (bag loop?): tracks reset")
        self._publish(result, msg, image, K)
        latency_ms = (time.perf_counter() - start) * 1e3
        info_age_s = None if info is None else (time.monotonic_ns() - frame.camera_info.stamp_ns) * 1e-9
        intrinsics = IntrinsicsSource(from_info, info_age_s, settings.camera_info_max_age_s)
        self.health.frame_processed(result, latency_ms, tracker.anchor_counts(), intrinsics)

    def _publish(self, result: FrameResult, msg: Image, image_rgb: np.ndarray, K: np.ndarray) -> None:
        frame_id = self.settings.camera_frame_override or msg.header.frame_id
        header = header_fields(stamp_ns_of(msg.header.stamp), frame_id)
        pubs = self.publishers_by_topic
        primary = primary_pose_stamped_fields(result, header)
        if primary is not None:
            pubs["head_pose"].publish(_message(PoseStamped, primary))
        pubs["head_poses"].publish(
            _message(HeadPoseArray, head_pose_array_fields(result, header, self.naming))
        )
        if self.settings.publish_tf and result.faces:
            transforms = face_transforms_fields(result, header, self.naming)
            self.tf_broadcaster.sendTransform([_message(TransformStamped, t) for t in transforms])
        if HRI_TRACKED_TOPIC in pubs:
            self._publish_hri(result, header, msg.width, msg.height)
        if pubs["markers"].get_subscription_count() > 0:
            pubs["markers"].publish(_message(MarkerArray, marker_array_fields(result, header, self.naming)))
        if pubs["debug_image"].get_subscription_count() > 0:
            overlay = draw_result(image_rgb, result, K)
            pubs["debug_image"].publish(_message(Image, bgr8_image_fields(overlay, header)))

    def _publish_hri(self, result: FrameResult, header: dict[str, Any], width: int, height: int) -> None:
        """/humans/faces/tracked and one roi topic per tracked face (created and removed with the face)."""
        faces = hri_faces_fields(result, header, self.naming, width, height)
        if faces is None:
            return  # the frame prefixes give no valid ROS4HRI ids (said at activation)
        tracked, rois = faces
        ids_list, region = self._hri_types
        self.publishers_by_topic[HRI_TRACKED_TOPIC].publish(_message(ids_list, tracked))
        for gone in set(self._hri_rois) - set(rois):
            self.destroy_publisher(self._hri_rois.pop(gone))
        for face_id, fields in rois.items():
            if face_id not in self._hri_rois:
                topic = hri_roi_topic(face_id)
                self._hri_rois[face_id] = self.create_publisher(region, topic, qos_profile(RELIABLE_OUTPUT))
            self._hri_rois[face_id].publish(_message(region, fields))

    def _on_worker_error(self, error: BaseException) -> None:
        if not self.context.ok():
            return  # Ctrl-C shut the context down while a frame was in flight: nothing can be published
        message = str(error) if isinstance(error, HpeError) else f"{type(error).__name__}: {error}"
        self.health.frame_failed(message)
        self.get_logger().error(f"frame skipped: {message}", throttle_duration_sec=5.0)

    def destroy_node(self) -> None:
        """Stop the inference thread, then the node."""
        if self.worker is not None:
            self.worker.stop(timeout_s=5.0)
        super().destroy_node()


def _message(msg_type: type, fields: dict[str, Any]) -> Any:
    message = msg_type()
    set_message_fields(message, fields)
    return message


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run hpe_ros tracker_node``: configured and activated at once unless the
    parameter ``autostart`` is false (then ``ros2 lifecycle set /hpe_tracker configure`` / ``activate``)."""
    rclpy.init(args=args)
    node = None
    try:
        node = HeadPoseNode()
        if node.settings.autostart:
            for transition in ("configure", "activate"):
                if getattr(node, f"trigger_{transition}")() != TransitionCallbackReturn.SUCCESS:
                    get_logger(NODE_NAME).fatal(f"cannot {transition} (see the log above)")
                    return 1
        rclpy.spin(node)
    except HpeError as error:
        get_logger(NODE_NAME).fatal(f"cannot start: {error}")
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
