"""Outputs of ``hpe track`` read back with other libraries, and frame sources on good and bad input."""

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import ScriptedCapture, make_face_pose
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from scipy.spatial.transform import Rotation

from hpe_ros.errors import InputError
from hpe_ros.geometry import face_pose_from_head
from hpe_ros.image import to_rgb8
from hpe_ros.io.bag import PoseBagWriter
from hpe_ros.io.csv_writer import COLUMNS, PoseCsvWriter
from hpe_ros.io.sources import ImageFolderSource, VideoSource, open_source
from hpe_ros.io.video import AnnotatedVideoWriter
from hpe_ros.results import FacePose, FrameResult

K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]])
T0 = 1_700_000_000_250_000_000


def face(track_id: int, stamp_ns: int, yaw_deg: float, x: float) -> FacePose:
    return make_face_pose(track_id, stamp_ns, yaw_deg, x, anchor_stamp_ns=T0)


def results() -> list[FrameResult]:
    """Frame 0: faces 1 and 2 (2 is primary); frame 1: no face; frame 2: face 1."""
    stamps = [T0 + i * 33_333_333 for i in range(3)]
    faces = [
        [face(1, stamps[0], 20.0, 0.0), face(2, stamps[0], -30.0, 80.0)],
        [],
        [face(1, stamps[2], 25.0, 5.0)],
    ]
    primary = [1, -1, 0]
    return [
        FrameResult(s, f, p, len(f), {}, False, 0) for s, f, p in zip(stamps, faces, primary, strict=True)
    ]


def test_bag_read_back_with_mcap_ros2(tmp_path: Path):
    writer = PoseBagWriter(tmp_path / "poses", camera_frame="cam_optical", write_images=True)
    image = np.full((240, 320, 3), 128, np.uint8)
    for result in results():
        writer.write(result, image)
    writer.close()

    metadata = yaml.safe_load((tmp_path / "poses" / "metadata.yaml").read_text())
    assert metadata["rosbag2_bagfile_information"]["storage_identifier"] == "mcap"
    messages: dict[str, list] = {}
    with (tmp_path / "poses" / "poses.mcap").open("rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for schema, channel, message, decoded in reader.iter_decoded_messages():
            messages.setdefault(channel.topic, []).append((schema.name, message.log_time, decoded))
    counts = {topic: len(items) for topic, items in messages.items()}
    assert counts == {"/head_pose": 2, "/head_poses": 3, "/tf": 2, "/image/compressed": 3}

    stamps = [r.stamp_ns for r in results()]
    arrays = messages["/head_poses"]
    assert [schema for schema, _, _ in arrays] == ["hpe_msgs/msg/HeadPoseArray"] * 3
    for (_, log_time, array), stamp in zip(arrays, stamps, strict=True):
        assert log_time == stamp
        assert array.header.stamp.sec * 10**9 + array.header.stamp.nanosec == stamp
        assert array.header.frame_id == "cam_optical"
    assert [len(a.faces) for _, _, a in arrays] == [2, 0, 1]
    assert [a.primary_index for _, _, a in arrays] == [1, -1, 0]
    second = arrays[0][2].faces[1]
    assert second.track_id == 2 and second.face_frame_id == "face_f2"
    assert second.yaw == pytest.approx(-30.0) and second.num_anchors == 3 and second.anchor_id == 2
    assert second.box_width == pytest.approx(60.0) and second.box_height == pytest.approx(70.0)
    np.testing.assert_allclose(np.reshape(second.pose.covariance, (6, 6)), results()[0].faces[1].covariance)

    # /head_pose is the primary face's REP-155 face frame in the camera frame.
    _, log_time, head_pose = messages["/head_pose"][0]
    truth = results()[0].faces[1]
    R_cam_face, t = face_pose_from_head(truth.rotation, truth.position)
    q = head_pose.pose.orientation
    np.testing.assert_allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), R_cam_face, atol=1e-9)
    p = head_pose.pose.position
    np.testing.assert_allclose([p.x, p.y, p.z], t)
    assert head_pose.header.frame_id == "cam_optical" and log_time == stamps[0]

    tf = messages["/tf"][0][2]
    pairs = [(t.header.frame_id, t.child_frame_id) for t in tf.transforms]
    assert pairs == [
        ("cam_optical", "face_f1"),
        ("face_f1", "gaze_f1"),
        ("cam_optical", "face_f2"),
        ("face_f2", "gaze_f2"),
    ]
    assert all(t.header.stamp.sec * 10**9 + t.header.stamp.nanosec == stamps[0] for t in tf.transforms)


def test_bag_refuses_to_overwrite(tmp_path: Path):
    (tmp_path / "poses").mkdir()
    with pytest.raises(InputError, match="exists"):
        PoseBagWriter(tmp_path / "poses")


def test_csv_rows_per_face(tmp_path: Path):
    writer = PoseCsvWriter(tmp_path / "poses.csv")
    for index, result in enumerate(results()):
        writer.write(index, result)
    # Rows are on disk before close (a crash keeps them).
    with (tmp_path / "poses.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    writer.close()
    assert tuple(rows[0]) == COLUMNS
    assert [(r["frame"], r["track_id"]) for r in rows] == [("0", "1"), ("0", "2"), ("2", "1")]
    q = [float(rows[1][k]) for k in ("qx", "qy", "qz", "qw")]
    assert np.degrees(Rotation.from_quat(q).as_rotvec()[1]) == pytest.approx(-30.0, abs=1e-3)


def test_annotated_video_has_every_frame(tmp_path: Path):
    writer = AnnotatedVideoWriter(tmp_path / "annotated.mp4", 30.0, (320, 240))
    image = np.full((240, 320, 3), 90, np.uint8)
    for result in results():
        writer.write(image, result, K)
    writer.write(np.zeros((100, 100, 3), np.uint8), results()[1], K)  # another size: resized
    writer.close()
    capture = cv2.VideoCapture(str(tmp_path / "annotated.mp4"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 4 and all(f.shape == (240, 320, 3) for f in frames)
    assert not np.array_equal(frames[0], frames[1])  # frame 0 has drawings, frame 1 has none


def write_video(path: Path, frames: int = 5) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), (i * 40, 0, 255), np.uint8))  # BGR: red
    writer.release()


def test_video_source_stamps_and_colour_order(tmp_path: Path):
    write_video(tmp_path / "clip.mp4")
    source = open_source(str(tmp_path / "clip.mp4"))
    frames = list(source)
    source.close()
    assert source.fps == pytest.approx(25.0) and source.length == 5
    assert [f.stamp_ns for f in frames] == [i * 40_000_000 for i in range(5)]
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    assert frames[0].image[..., 0].mean() > 200 > frames[0].image[..., 2].mean()  # red comes out in channel 0


def test_corrupt_or_missing_video_is_a_clear_error(tmp_path: Path):
    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(InputError, match=r"broken\.mp4"):
        VideoSource(str(corrupt))
    with pytest.raises(InputError, match="does not exist"):
        open_source(str(tmp_path / "missing.mp4"))


def test_a_missing_camera_is_named_as_a_camera(monkeypatch):
    class ClosedCapture(ScriptedCapture):
        def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
            return False

    monkeypatch.setattr(cv2, "VideoCapture", lambda spec: ClosedCapture([], 0))
    with pytest.raises(InputError, match="no camera at this index") as error:
        open_source("7")
    assert "camera 7" in str(error.value) and "codec" not in str(error.value)


def test_image_folder_converts_gray_16bit_and_alpha(tmp_path: Path):
    gray = np.tile(np.arange(64, dtype=np.uint8), (48, 1))
    cv2.imwrite(str(tmp_path / "a_gray.png"), gray)
    cv2.imwrite(str(tmp_path / "b_16bit.png"), (gray.astype(np.uint16) * 257)[..., None].repeat(3, axis=2))
    bgra = np.zeros((48, 64, 4), np.uint8)
    bgra[..., 2] = 200  # red in BGR(A)
    cv2.imwrite(str(tmp_path / "c_alpha.png"), bgra)
    (tmp_path / "notes.txt").write_text("not an image")
    source = ImageFolderSource(tmp_path, fps=10.0)
    frames = list(source)
    assert [f.stamp_ns for f in frames] == [0, 100_000_000, 200_000_000]
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
    np.testing.assert_array_equal(frames[0].image[..., 1], gray)
    np.testing.assert_array_equal(
        frames[1].image[..., 0], gray
    )  # 16-bit mapped back to the same 8-bit values
    assert frames[2].image[0, 0].tolist() == [200, 0, 0]


def test_bad_frames_are_rejected_clearly(tmp_path: Path):
    with pytest.raises(InputError, match="empty"):
        to_rgb8(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(InputError, match="int32"):
        to_rgb8(np.zeros((4, 4), np.int32))
    with pytest.raises(InputError, match="NaN"):
        to_rgb8(np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(InputError, match="shape"):
        to_rgb8(np.zeros((4, 4, 5), np.uint8))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        open_source(str(tmp_path / "empty"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "0.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"0\.png"):
        list(open_source(str(tmp_path / "bad")))


def scripted_source(tmp_path: Path, monkeypatch, decodes: list[bool], reported_frames: int) -> VideoSource:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"stand-in")
    monkeypatch.setattr(cv2, "VideoCapture", lambda spec: ScriptedCapture(decodes, reported_frames))
    return VideoSource(str(path))


def test_video_source_reads_past_undecodable_frames_and_reports_a_truncation(tmp_path: Path, monkeypatch):
    damaged = scripted_source(tmp_path, monkeypatch, [True] * 3 + [False] * 2 + [True] * 3, 8)
    frames = list(damaged)
    assert [f.index for f in frames] == [0, 1, 2, 5, 6, 7]  # indices and stamps keep the file's timeline
    assert frames[3].stamp_ns == 5 * 40_000_000
    assert damaged.problems() == [f"{damaged.name}: 2 undecodable frame(s) skipped (corrupt data)"]

    truncated = scripted_source(tmp_path, monkeypatch, [True] * 4, 10)
    assert len(list(truncated)) == 4
    assert truncated.problems() == [
        f"{truncated.name}: the video stopped decoding after 4 of the 10 frames its header reports "
        "(truncated or corrupt file)"
    ]
    complete = scripted_source(tmp_path, monkeypatch, [True] * 5, 5)
    assert len(list(complete)) == 5 and complete.problems() == []
    late_start = scripted_source(tmp_path, monkeypatch, [False] + [True] * 2, 3)
    assert [f.index for f in late_start] == [1, 2] and late_start.skipped == 1


def test_real_damaged_clips_decode_around_the_damage(shared: Path, tmp_path: Path):
    """tpsmm_driving.mp4 keeps its index (moov) at the front, so a damaged copy still opens."""
    clip = shared / "data" / "videos" / "tpsmm_driving.mp4"
    if not clip.is_file():
        pytest.skip(f"real clip {clip} is absent")
    data = bytearray(clip.read_bytes())
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    data[len(data) // 2 : len(data) // 2 + 20_000] = bytes(20_000)  # zeroed packets mid-file
    (tmp_path / "damaged.mp4").write_bytes(data)

    damaged = VideoSource(str(tmp_path / "damaged.mp4"))
    indices = [f.index for f in damaged]
    assert damaged.skipped > 0 and len(indices) + damaged.skipped == damaged.length
    assert indices[-1] == damaged.length - 1  # the frames after the damage were read too
    truncated = VideoSource(str(tmp_path / "truncated.mp4"))
    count = len(list(truncated))
    assert 0 < count < truncated.length and truncated.ended_at == count + truncated.skipped
    assert "truncated" in truncated.problems()[-1]
