"""The ROS-free logic behind the node (hpe_ros.ros): image decoding, message fields, QoS, diagnostics,
the drop-in-flight worker, parameters and the config file; the pipeline with a real tiny network."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import make_face_pose
from scipy.spatial.transform import Rotation

from hpe_ros.camera import intrinsics_for_image
from hpe_ros.config import parameter_specs
from hpe_ros.detect import Detection, ExternalDetections
from hpe_ros.engine.torch_backend import TorchPoseEngine
from hpe_ros.errors import InputError, ModelFileError
from hpe_ros.geometry import face_pose_from_head
from hpe_ros.io.bag import build_message
from hpe_ros.io.messages import (
    MARKER_ARROW,
    MARKER_DELETEALL,
    MARKER_TEXT,
    FrameNaming,
    bgr8_image_fields,
    face_transforms_fields,
    head_pose_array_fields,
    header_fields,
    marker_array_fields,
    primary_pose_stamped_fields,
    stamp_ns_of,
)
from hpe_ros.io.rosmsgs import make_typestore
from hpe_ros.model import CONFIGS, HeadPoseNet
from hpe_ros.pipeline import RuntimeConfig
from hpe_ros.results import FacePose, FrameResult
from hpe_ros.ros.diagnostics import ERROR, OK, WARN, IntrinsicsSource, NodeHealth
from hpe_ros.ros.encodings import (
    ImageData,
    UnsupportedEncodingError,
    depth_from_image,
    image_array,
    rgb_from_image,
)
from hpe_ros.ros.inputs import Stamped, detection_from_centre, paired
from hpe_ros.ros.parameters import (
    RUNTIME_PARAMETERS,
    NodeSettings,
    frame_naming,
    parameter_problems,
    parameter_table,
    settings_from_parameters,
)
from hpe_ros.ros.qos import INPUT_TOPICS, OUTPUT_TOPICS
from hpe_ros.ros.worker import DropInFlightWorker, LatestOnlySlot
from hpe_ros.tracker import HeadPoseTracker, TrackerConfig
from hpe_ros.tracks import FaceTracksConfig

STAMP_NS = 1_700_000_000_123_456_789
ENGINE_INFO = {"backend": "torch", "precision": "fp32", "device": "cpu"}


def image(encoding: str, pixels: np.ndarray, pad: int = 0, big_endian: bool = False) -> ImageData:
    """An ImageData of ``pixels`` with ``pad`` junk bytes (0xAB) at the end of every row."""
    height, width = pixels.shape[:2]
    array = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = array.reshape(height, -1).view(np.uint8).reshape(height, -1)
    padded = np.concatenate([rows, np.full((height, pad), 0xAB, np.uint8)], axis=1)
    return ImageData(width, height, encoding, padded.shape[1], padded.tobytes(), int(big_endian))


RGB = np.array(
    [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[10, 20, 30], [40, 50, 60], [70, 80, 90]]], np.uint8
)


# -- encodings -------------------------------------------------------------------------------------------
def test_bgr8_and_rgb8_give_the_same_rgb_with_padded_rows():
    from_rgb = rgb_from_image(image("rgb8", RGB, pad=3))
    from_bgr = rgb_from_image(image("bgr8", RGB[:, :, ::-1].copy(), pad=5))
    np.testing.assert_array_equal(from_rgb, RGB)
    np.testing.assert_array_equal(from_bgr, RGB)
    assert from_rgb[0, 0].tolist() == [255, 0, 0]  # red stays red: channel order pinned


def test_alpha_dropped_and_channel_order_kept():
    alpha = np.full((*RGB.shape[:2], 1), 7, np.uint8)
    np.testing.assert_array_equal(rgb_from_image(image("rgba8", np.concatenate([RGB, alpha], 2))), RGB)
    bgra = np.concatenate([RGB[:, :, ::-1], alpha], 2)
    np.testing.assert_array_equal(rgb_from_image(image("bgra8", bgra, pad=2)), RGB)


def test_mono16_scaled_to_8_bits_in_either_byte_order():
    mono = np.array([[0, 257, 32768, 65535]], np.uint16)
    expected = np.array([0, 1, 128, 255], np.uint8)
    for big_endian in (False, True):
        rgb = rgb_from_image(image("mono16", mono, pad=2, big_endian=big_endian))
        assert rgb.shape == (1, 4, 3)
        np.testing.assert_array_equal(rgb[0, :, 0], expected)
        np.testing.assert_array_equal(rgb[0, :, 1], expected)
    np.testing.assert_array_equal(
        rgb_from_image(image("mono8", np.array([[3, 200]], np.uint8)))[0], [[3, 3, 3], [200, 200, 200]]
    )


def test_rgb16_scaled_like_mono16():
    pixels = np.array([[[65535, 0, 257]]], np.uint16)
    np.testing.assert_array_equal(rgb_from_image(image("rgb16", pixels)), [[[255, 0, 1]]])
    np.testing.assert_array_equal(rgb_from_image(image("bgr16", pixels)), [[[1, 0, 255]]])


def test_yuv422_byte_orders_agree_and_use_video_range_bt601():
    # One pixel pair, Y=200, U=V=128 (no chroma): grey 1.164 * (200 - 16) = 214 in both byte orders.
    grey = {"uyvy": [128, 200, 128, 200], "yuyv": [200, 128, 200, 128]}
    # Y=120, U=90, V=220: a red (V high) that must come out the same from both byte orders.
    red = {"uyvy": [90, 120, 220, 120], "yuyv": [120, 90, 120, 220]}
    aliases = {"uyvy": ("uyvy", "yuv422"), "yuyv": ("yuyv", "yuv422_yuy2")}
    colours = []
    for order, encodings in aliases.items():
        for encoding in encodings:
            rgb = rgb_from_image(image(encoding, np.array(grey[order], np.uint8).reshape(1, 2, 2)))
            assert rgb.shape == (1, 2, 3)
            np.testing.assert_allclose(rgb.astype(int), 214, atol=1)
            colours.append(rgb_from_image(image(encoding, np.array(red[order], np.uint8).reshape(1, 2, 2))))
    assert all(np.array_equal(c, colours[0]) for c in colours)
    r, g, b = colours[0][0, 0].astype(int)
    assert r > g + 50 and r > b + 50


def test_bayer_rggb8_demosaics_to_the_colour():
    height, width = 8, 8
    mosaic = np.empty((height, width), np.uint8)
    mosaic[0::2, 0::2] = 200  # R
    mosaic[0::2, 1::2] = 100  # G
    mosaic[1::2, 0::2] = 100  # G
    mosaic[1::2, 1::2] = 50  # B
    rgb = rgb_from_image(image("bayer_rggb8", mosaic))
    np.testing.assert_allclose(rgb[2:6, 2:6].reshape(-1, 3).astype(int), [[200, 100, 50]] * 16, atol=2)


def test_depth_encodings_keep_their_values():
    mm = np.array([[0, 1234], [65535, 800]], np.uint16)
    np.testing.assert_array_equal(depth_from_image(image("16UC1", mm, pad=4)), mm)
    metres = np.array([[0.5, np.nan], [1.25, 3.0]], np.float32)
    out = depth_from_image(image("32FC1", metres, big_endian=True))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, metres)


def test_unsupported_encodings_are_named_with_the_alternatives():
    with pytest.raises(UnsupportedEncodingError, match=r"'jpeg'.*supported: rgb8, rgba8, bgr8"):
        rgb_from_image(ImageData(2, 2, "jpeg", 6, bytes(12)))
    with pytest.raises(UnsupportedEncodingError, match=r"32FC1.*depth topic"):
        rgb_from_image(image("32FC1", np.zeros((2, 2), np.float32)))
    with pytest.raises(UnsupportedEncodingError, match="depth image encoding 'rgb8'"):
        depth_from_image(image("rgb8", RGB))
    assert issubclass(UnsupportedEncodingError, InputError)


def test_truncated_or_inconsistent_images_are_input_errors():
    with pytest.raises(InputError, match="needs 18 bytes, got 17"):
        image_array(ImageData(3, 2, "rgb8", 9, bytes(17)))
    with pytest.raises(InputError, match="step 8 is shorter than one row"):
        image_array(ImageData(3, 2, "rgb8", 8, bytes(18)))
    with pytest.raises(InputError, match="no pixels"):
        image_array(ImageData(0, 2, "mono8", 0, b""))


# -- message fields --------------------------------------------------------------------------------------
def face(track_id: int, yaw_deg: float, x: float) -> FacePose:
    return make_face_pose(track_id, STAMP_NS, yaw_deg, x, anchor_stamp_ns=STAMP_NS - 10**9)


RESULT = FrameResult(STAMP_NS, [face(4, 20.0, 0.0), face(7, -30.0, 80.0)], 1, 2, {}, False, 0)


def test_frame_names_follow_rep155_with_configurable_prefixes():
    assert (FrameNaming().face(3), FrameNaming().gaze(3)) == ("face_f3", "gaze_f3")
    naming = FrameNaming("robot1/face_", "robot1/gaze_")
    assert (naming.face(12), naming.gaze(12)) == ("robot1/face_f12", "robot1/gaze_f12")


def test_fields_build_real_message_types_and_survive_cdr():
    store = make_typestore()
    header = header_fields(STAMP_NS, "cam_optical")
    naming = FrameNaming()

    def round_trip(typename, fields):
        raw = store.serialize_cdr(build_message(store, typename, fields), typename)
        return store.deserialize_cdr(raw, typename)

    array = round_trip("hpe_msgs/msg/HeadPoseArray", head_pose_array_fields(RESULT, header, naming))
    assert stamp_ns_of(array.header.stamp) == STAMP_NS and array.header.frame_id == "cam_optical"
    assert [f.track_id for f in array.faces] == [4, 7] and array.primary_index == 1
    second = array.faces[1]
    assert second.face_frame_id == "face_f7" and second.num_anchors == 3
    assert stamp_ns_of(second.anchor_stamp) == STAMP_NS - 10**9
    assert (second.box_x, second.box_width, second.box_height) == (180.0, 60.0, 70.0)
    np.testing.assert_allclose(second.pose.covariance.reshape(6, 6), RESULT.faces[1].covariance)

    pose = round_trip("geometry_msgs/msg/PoseStamped", primary_pose_stamped_fields(RESULT, header))
    R_cam_face, t = face_pose_from_head(RESULT.faces[1].rotation, RESULT.faces[1].position)
    q = pose.pose.orientation
    np.testing.assert_allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), R_cam_face, atol=1e-9)
    np.testing.assert_allclose([pose.pose.position.x, pose.pose.position.y, pose.pose.position.z], t)
    assert primary_pose_stamped_fields(FrameResult(STAMP_NS, [], -1, 0, {}, False, 0), header) is None

    tf = round_trip("tf2_msgs/msg/TFMessage", {"transforms": face_transforms_fields(RESULT, header, naming)})
    pairs = [(t.header.frame_id, t.child_frame_id) for t in tf.transforms]
    assert pairs == [
        ("cam_optical", "face_f4"),
        ("face_f4", "gaze_f4"),
        ("cam_optical", "face_f7"),
        ("face_f7", "gaze_f7"),
    ]
    assert all(stamp_ns_of(t.header.stamp) == STAMP_NS for t in tf.transforms)
    gaze = tf.transforms[1].transform.rotation
    # REP-155: the gaze z axis lies along the face x axis (out of the face).
    R_face_gaze = Rotation.from_quat([gaze.x, gaze.y, gaze.z, gaze.w]).as_matrix()
    np.testing.assert_allclose(R_face_gaze[:, 2], [1.0, 0.0, 0.0], atol=1e-9)

    markers = round_trip("visualization_msgs/msg/MarkerArray", marker_array_fields(RESULT, header, naming))
    assert markers.markers[0].action == MARKER_DELETEALL
    assert [(m.type, m.id) for m in markers.markers[1:]] == [
        (MARKER_ARROW, 8),
        (MARKER_TEXT, 9),
        (MARKER_ARROW, 14),
        (MARKER_TEXT, 15),
    ]
    assert markers.markers[2].text.startswith("face_f4 y+20")

    overlay = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = round_trip("sensor_msgs/msg/Image", bgr8_image_fields(overlay, header))
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("bgr8", 3, 2, 9)
    np.testing.assert_array_equal(image_array(msg), overlay)


def test_build_message_refuses_unknown_fields():
    with pytest.raises(KeyError, match="no field"):
        build_message(make_typestore(), "std_msgs/msg/Header", {"frame": "x"})


# -- QoS -------------------------------------------------------------------------------------------------
def test_inputs_best_effort_depth_one_outputs_reliable():
    for topic in ("image", "camera_info", "depth"):
        assert (INPUT_TOPICS[topic][1].reliability, INPUT_TOPICS[topic][1].depth) == ("best_effort", 1)
    for topic in ("head_pose", "head_poses", "/diagnostics", "markers"):
        assert (OUTPUT_TOPICS[topic][1].reliability, OUTPUT_TOPICS[topic][1].depth) == ("reliable", 10)
    assert OUTPUT_TOPICS["head_poses"][0] == "hpe_msgs/msg/HeadPoseArray"
    # Every output type exists in the ROS 2 type definitions (rosbags' Jazzy store + hpe_msgs).
    known = set(make_typestore().types)
    assert {msgtype for msgtype, _ in OUTPUT_TOPICS.values()} <= known


# -- drop-in-flight --------------------------------------------------------------------------------------
def test_latest_only_slot_replaces_the_pending_item():
    slot: LatestOnlySlot[int] = LatestOnlySlot()
    assert slot.offer(1) is None
    assert slot.offer(2) == 1
    assert slot.offer(3) == 2
    assert slot.take() == 3 and slot.take() is None and not slot.pending


def test_worker_drops_frames_that_arrive_while_busy_instead_of_queueing():
    started, release = threading.Event(), threading.Event()
    handled: list[int] = []
    dropped: list[int] = []

    def handle(item: int) -> None:
        if item == 1:
            started.set()
            assert release.wait(10)
        handled.append(item)
        if item == 5:
            finished.set()

    finished = threading.Event()
    worker: DropInFlightWorker[int] = DropInFlightWorker(handle, on_drop=dropped.append)
    assert worker.submit(1)
    assert started.wait(10)  # frame 1 is in inference now
    assert worker.submit(2)  # pending
    assert not worker.submit(3)  # replaces 2
    assert not worker.submit(4)  # replaces 3
    release.set()
    assert worker.submit(5) in (True, False)
    assert finished.wait(10)
    worker.stop(10)
    assert handled[0] == 1 and handled[-1] == 5
    assert dropped[:2] == [2, 3] and worker.dropped == len(dropped)
    assert sorted(handled + dropped) == [1, 2, 3, 4, 5]  # every frame either handled or counted as dropped


def test_worker_survives_a_failing_frame():
    errors: list[BaseException] = []
    failed, done = threading.Event(), threading.Event()

    def handle(item: int) -> None:
        if item == 1:
            raise InputError("bad frame")
        done.set()

    worker: DropInFlightWorker[int] = DropInFlightWorker(
        handle, on_error=lambda error: (errors.append(error), failed.set())
    )
    worker.submit(1)
    assert failed.wait(10)
    worker.submit(2)
    assert done.wait(10)
    worker.stop(10)
    assert [str(e) for e in errors] == ["bad frame"]


# -- diagnostics -----------------------------------------------------------------------------------------
def processed(health: NodeHealth, frames: int, **result_options) -> None:
    options = {"reset": False, "dropped": 0, **result_options}
    result = FrameResult(STAMP_NS, [face(1, 0.0, 0.0)], 0, 1, {}, options["reset"], options["dropped"])
    for _ in range(frames):
        health.frame_received()
        intrinsics = options.get("intrinsics", IntrinsicsSource(not options.get("default", False)))
        health.frame_processed(result, 12.0, {1: 3}, intrinsics)


def test_diagnostics_ok_then_each_problem_raises_its_level():
    health = NodeHealth(ENGINE_INFO, 0.0, 60.0)
    report = health.report(1.0)
    assert (report.level, report.message) == (WARN, "no image received")

    processed(health, 30)
    report = health.report(2.0)
    assert (report.level, report.message) == (OK, "tracking")
    assert report.value("backend") == "torch" and report.value("input rate (Hz)") == "30.0"
    assert report.value("latency mean (ms)") == "12.0" and report.value("faces") == "1"
    assert report.value("anchors") == "1:3"

    cases = [
        (lambda h: (processed(h, 3), h.frame_dropped()), WARN, "dropped 1 of 3 frames"),
        (lambda h: h.unsupported_encoding("unsupported colour image encoding 'jpeg'"), WARN, "'jpeg'"),
        (lambda h: processed(h, 2, default=True), WARN, "no camera_info: assuming a 60 deg"),
        (lambda h: processed(h, 2, reset=True), WARN, "time jump"),
        (lambda h: processed(h, 2, dropped=1), WARN, "NaN/Inf for 2 face(s)"),
        (
            lambda h: (processed(h, 2), h.frame_failed("depth image (2, 2) is not registered")),
            ERROR,
            "registered",
        ),
    ]
    now = 2.0
    for event, level, text in cases:
        event(health)
        now += 1.0
        report = health.report(now)
        assert report.level == level, report.message
        assert text in report.message
        processed(health, 5)  # a clean period afterwards is OK again
        now += 1.0
        assert health.report(now).level == OK
    totals = dict(health.report(now + 1).values)
    assert totals["frames dropped"] == "1" and totals["time jumps"] == "2"
    assert totals["frames skipped (encoding)"] == "1" and totals["frames failed"] == "1"


def test_a_stale_camera_info_is_reported_with_its_age_and_the_intrinsics_in_use():
    health = NodeHealth(ENGINE_INFO, 0.0, 60.0)
    processed(health, 3, intrinsics=IntrinsicsSource(True, 0.03, 5.0))
    report = health.report(1.0)
    assert report.level == OK and report.value("intrinsics") == "camera_info"
    assert report.value("camera_info age (s)") == "0.0"
    processed(health, 3, intrinsics=IntrinsicsSource(True, 12.34, 5.0))  # camera_info stopped 12 s ago
    report = health.report(2.0)
    assert report.level == WARN and "camera_info stale: the last arrived 12.3 s ago" in report.message
    assert "its K is still used" in report.message
    assert report.value("intrinsics") == "last camera_info (stale)"
    assert report.value("camera_info age (s)") == "12.3"
    processed(health, 3, intrinsics=IntrinsicsSource(True, 12.34, 0.0))  # 0: a latched camera_info is fine
    assert health.report(3.0).level == OK
    processed(health, 3, default=True)
    report = health.report(4.0)
    assert "no camera_info: assuming a 60 deg" in report.message
    assert report.value("intrinsics") == "default field of view (60 deg)"
    assert report.value("camera_info age (s)") == "none received"


# -- parameters and the config file ----------------------------------------------------------------------
def test_parameter_table_declares_every_tracker_parameter_with_a_description():
    table = parameter_table()
    names = [spec.name for spec in table]
    assert len(names) == len(set(names))
    assert {spec.name for spec in parameter_specs(TrackerConfig())} <= set(names)
    assert all(spec.description.strip() for spec in table), [s.name for s in table if not s.description]
    isaac_names = {"model_file_path", "engine_file_path", "force_engine_update", "enable_fp16"}
    assert isaac_names <= {spec.name for spec in RUNTIME_PARAMETERS}
    assert {spec.ros_type for spec in table} <= {"bool", "integer", "double", "string"}
    assert all(spec.read_only for spec in RUNTIME_PARAMETERS if spec.name in isaac_names)


def test_parameter_validation_names_every_problem():
    assert parameter_problems({spec.name: spec.default for spec in parameter_table()}) == []
    problems = parameter_problems(
        {"backend": "cuda", "face_frame_prefix": "/face_", "tracking.max_faces": 2.5, "nonsense": 1}
    )
    assert any("backend must be one of auto, torch, onnxruntime, tensorrt" in p for p in problems)
    assert any("frame prefix" in p for p in problems)
    assert any("tracking.max_faces must be of type integer" in p for p in problems)
    assert "unknown parameter 'nonsense'" in problems
    assert parameter_problems({"default_horizontal_fov_deg": 200.0}) == [
        "default_horizontal_fov_deg must be <= 179, got 200.0"
    ]
    assert "anchors.policy must be one of nearest" in parameter_problems({"anchors.policy": "random"})[0]
    assert parameter_problems({"detector": "faces.onnx"}) == []
    with pytest.raises(InputError, match="invalid parameters: detector must be"):
        settings_from_parameters({"detector": "haar"})
    assert "face_id_prefix must be letters" in parameter_problems({"face_id_prefix": "7a"})[0]
    assert parameter_problems({"face_id_prefix": ""}) == []  # allowed: bare numbers, no ROS4HRI topics


def test_default_face_ids_give_rep155_frames_and_ros4hri_ids():
    naming = frame_naming(settings_from_parameters({}).settings)
    assert (naming.face(3), naming.gaze(3), naming.hri_id(3)) == ("face_f3", "gaze_f3", "f3")
    bare = frame_naming(settings_from_parameters({"face_id_prefix": ""}).settings)
    assert (bare.face(3), bare.hri_id(3)) == ("face_3", None)


def test_every_numeric_parameter_declares_a_range_and_out_of_range_values_are_refused():
    """ROS gets a FloatingPointRange / IntegerRange for every number (``ros2 param set crop_margin -1``
    used to be accepted and broke every frame)."""
    numeric = [spec for spec in parameter_table() if spec.ros_type in ("integer", "double")]
    assert numeric and all(s.minimum is not None and s.maximum is not None for s in numeric)
    assert parameter_problems({"crop_margin": -1.0}) == ["crop_margin must be >= 0, got -1.0"]
    assert parameter_problems({"tracking.max_faces": 0}) == ["tracking.max_faces must be >= 1, got 0"]


def test_settings_and_tracker_config_from_parameters():
    parameters = settings_from_parameters(
        {"backend": "onnxruntime", "anchors.max_anchors": 6, "tracking.max_faces": 2, "crop_margin": 0.3}
    )
    config = parameters.tracker
    assert (
        parameters.runtime == RuntimeConfig(backend="onnxruntime") and parameters.settings == NodeSettings()
    )
    assert (config.anchors.max_anchors, config.tracking.max_faces, config.crop_margin) == (6, 2, 0.3)


def test_config_yaml_holds_every_declared_parameter_with_its_type(repo_root: Path):
    document = yaml.safe_load((repo_root / "hpe_ros" / "config" / "tracker.yaml").read_text())
    # "/**/": the file applies to the node in any namespace (launch argument namespace)
    assert list(document) == ["/**/hpe_tracker"] and list(document["/**/hpe_tracker"]) == ["ros__parameters"]

    def flatten(tree: dict, prefix: str = "") -> dict:
        flat = {}
        for key, value in tree.items():
            if isinstance(value, dict):
                flat.update(flatten(value, f"{prefix}{key}."))
            else:
                flat[f"{prefix}{key}"] = value
        return flat

    values = flatten(document["/**/hpe_tracker"]["ros__parameters"])
    specs = {spec.name: spec for spec in parameter_table()}
    assert set(values) <= set(specs), set(values) - set(specs)
    assert set(values) == set(specs)  # the file documents every parameter
    for name, value in values.items():  # ROS refuses 1 for a double parameter: types must match exactly
        assert type(value) is type(specs[name].default), name
    assert parameter_problems(values) == []


def test_default_model_is_the_embedded_one_or_a_clear_error(monkeypatch, tmp_path):
    assert RuntimeConfig(model_file_path="~/m.onnx").model_path() == Path("~/m.onnx").expanduser()
    path = RuntimeConfig().model_path()
    assert path.is_file() and path.name == "default.safetensors"
    monkeypatch.setattr("hpe_ros.model.default.MODELS_DIR", tmp_path)
    with pytest.raises(ModelFileError, match="--model PATH"):
        RuntimeConfig().model_path()


# -- side inputs -----------------------------------------------------------------------------------------
def test_intrinsics_from_camera_info_scaled_or_default_fov():
    k = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
    K, from_info = intrinsics_for_image(k, 640, 480, 640, 480, 60.0)
    assert from_info and K[0, 0] == 500.0 and K[1, 2] == 240.0
    K, _ = intrinsics_for_image(k, 640, 480, 320, 240, 60.0)
    np.testing.assert_allclose(K, [[250.0, 0.0, 160.0], [0.0, 250.0, 120.0], [0.0, 0.0, 1.0]])
    for missing in (None, [0.0] * 9):  # no camera_info, or an uncalibrated driver's zeros
        K, from_info = intrinsics_for_image(missing, 0, 0, 640, 480, 60.0)
        assert not from_info
        assert K[0, 0] == pytest.approx(320.0 / np.tan(np.radians(30.0)))


def test_side_inputs_pair_by_stamp():
    latest = Stamped(STAMP_NS, "depth")
    assert paired(latest, STAMP_NS + 40_000_000, 0.05) == "depth"
    assert paired(latest, STAMP_NS - 60_000_000, 0.05) is None
    assert paired(None, STAMP_NS, 1.0) is None
    box = detection_from_centre(100.0, 50.0, 40.0, 60.0, 0.7)
    assert (box.x0, box.y0, box.x1, box.y1, box.score) == (80.0, 20.0, 120.0, 80.0, 0.7)


# -- the node's chain without ROS, with a real (tiny, random) network ------------------------------------
@pytest.fixture(scope="module")
def engine() -> TorchPoseEngine:
    torch.manual_seed(0)
    config = CONFIGS["tiny"]
    return TorchPoseEngine(HeadPoseNet(config), config.image_size)


def node_chain(tracker: HeadPoseTracker, health: NodeHealth, msg: ImageData, stamp_ns: int) -> FrameResult:
    """What HeadPoseNode._process does between the message and the publishers."""
    rgb = rgb_from_image(msg)
    K, from_info = intrinsics_for_image(None, 0, 0, msg.width, msg.height, 60.0)
    health.frame_received()
    result = tracker.process(rgb, stamp_ns, K)
    health.frame_processed(result, 1.0, tracker.anchor_counts(), IntrinsicsSource(from_info))
    return result


def test_chain_bytes_to_messages_with_time_jump_and_nan(engine: TorchPoseEngine):
    detector = ExternalDetections()
    detector.set([Detection(100.0, 60.0, 170.0, 140.0, 0.9)])
    config = TrackerConfig(tracking=FaceTracksConfig(confirm_hits=1), upright=False)  # noise: no face check
    tracker = HeadPoseTracker(engine, detector, config)
    health = NodeHealth(ENGINE_INFO, 0.0, 60.0)
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    msg = image("bgr8", bgr, pad=4)
    store = make_typestore()
    for i in range(3):
        result = node_chain(tracker, health, msg, STAMP_NS + i * 33_333_333)
        assert len(result.faces) == 1 and not result.reset
        header = header_fields(result.stamp_ns, "cam")
        fields = head_pose_array_fields(result, header, FrameNaming())
        array = build_message(store, "hpe_msgs/msg/HeadPoseArray", fields)
        assert array.faces[0].face_frame_id == "face_f1"
        assert stamp_ns_of(array.header.stamp) == result.stamp_ns
    report = health.report(1.0)
    assert report.level == WARN and report.message.startswith("no camera_info")

    back = node_chain(tracker, health, msg, STAMP_NS - 10**9)  # a looping bag
    assert back.reset
    assert "time jump" in health.report(2.0).message

    net = HeadPoseNet(CONFIGS["tiny"])
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.fill_(float("nan"))
    broken = TorchPoseEngine(net, CONFIGS["tiny"].image_size)
    nan_tracker = HeadPoseTracker(broken, detector, config)
    result = node_chain(nan_tracker, health, msg, STAMP_NS)
    assert result.faces == [] and result.dropped == 1
    assert "NaN/Inf for 1 face(s)" in health.report(3.0).message
