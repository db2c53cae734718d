"""The video cache: alignment of frames and audio, bad files, strict mode, resume, labels, the dataset."""

from __future__ import annotations

import pickle
import shutil
import warnings

import h5py
import numpy as np
import pytest
import torch

from crossmodal.config import VideoConfig
from crossmodal.data.synthetic.av_files import write_av_file
from crossmodal.data.video_cache import VideoAudioPairs, prepare_video_cache
from crossmodal.errors import InputError

FPS = 20
FLASH_AT = 1.5  # seconds: frame 30 is white and the audio has a click


def _flash_and_click_video(path, seconds: float, rate: int) -> None:
    frames = np.full((int(seconds * FPS), 48, 64, 3), 30, np.uint8)
    frames[round(FLASH_AT * FPS)] = 255
    rng = np.random.default_rng(0)
    audio = 0.02 * rng.standard_normal((2, int(seconds * rate)))
    click = int(FLASH_AT * rate)
    audio[:, click : click + int(0.002 * rate)] = 0.9
    write_av_file(path, frames, FPS, audio, rate)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Two good videos (48 kHz mp4, 44.1 kHz mkv), one without audio, one corrupt, one empty, and labels."""
    root = tmp_path_factory.mktemp("source")
    _flash_and_click_video(root / "flash.mp4", 3.0, 48000)
    (root / "clips").mkdir()
    _flash_and_click_video(root / "clips" / "other.mkv", 2.5, 44100)
    write_av_file(root / "silent.mp4", np.zeros((20, 48, 64, 3), np.uint8), FPS, None, 16000)
    (root / "corrupt.mp4").write_bytes(np.random.default_rng(1).bytes(5000))
    (root / "empty.avi").write_bytes(b"")
    rows = ["video,label", "flash.mp4,bang", "other,hum", "silent.mp4,hum", "corrupt,bang", "empty.avi,bang"]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def cache(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache")
    with pytest.warns(UserWarning, match="skipping") as caught:
        summary = prepare_video_cache(source, out, VideoConfig(fps=2.0, clip_seconds=1.0, frame_size=(32, 32)), workers=2, progress=False)
    return out, summary, caught


def test_summary_counts_good_and_skipped_videos(cache):
    _, summary, caught = cache
    assert summary.decoded == 2 and summary.resumed == 0
    assert sorted(summary.skipped) == ["corrupt.mp4", "empty.avi", "silent.mp4"]
    assert "no audio track" in summary.skipped["silent.mp4"]
    assert summary.skip_reasons() == {"cannot be decoded": 2, "has no audio track": 1}
    assert "3 skipped (2 cannot be decoded, 1 has no audio track)" in str(summary)
    assert len(caught) == 3
    # flash.mp4: samples at 0.5 ... 2.5 s (5); other.mkv (2.5 s): 0.5 ... 2.0 s (4)
    assert summary.samples == 9
    assert summary.footage_seconds == pytest.approx(5.5, abs=0.1)


def test_items_have_the_contract_types_and_shapes(cache):
    out, _, _ = cache
    pairs = VideoAudioPairs(out)
    assert len(pairs) == 9 and pairs.sample_rate == 16000 and pairs.class_names == ["bang", "hum"]
    item = pairs[0]
    assert item["rgb"].dtype == torch.uint8 and item["rgb"].shape == (3, 32, 32)
    assert item["audio"].dtype == torch.float32 and item["audio"].shape == (1, 16000)
    assert item["audio"].abs().max() <= 1.0
    videos = [pairs[i]["video"] for i in range(len(pairs))]
    assert videos == ["clips/other.mkv"] * 4 + ["flash.mp4"] * 5
    assert [pairs[i]["label"] for i in (0, 4)] == [1, 0]
    assert [pairs[i]["time"] for i in range(4, 9)] == [0.5, 1.0, 1.5, 2.0, 2.5]
    assert [pairs[i]["index"] for i in range(len(pairs))] == list(range(9))
    copy = pickle.loads(pickle.dumps(pairs))  # as spawned DataLoader workers receive it, handles open
    assert torch.equal(copy[4]["rgb"], pairs[4]["rgb"])


@pytest.mark.parametrize("video", ["flash.mp4", "clips/other.mkv"])
def test_flash_frame_and_click_meet_at_the_sample_time(cache, video):
    out, _, _ = cache
    pairs = VideoAudioPairs(out)
    samples = {(item["video"], item["time"]): item for item in (pairs[i] for i in range(len(pairs)))}
    at_flash = samples[(video, FLASH_AT)]
    assert at_flash["rgb"].float().mean() > 200
    assert samples[(video, 1.0)]["rgb"].float().mean() < 60
    peak = int(at_flash["audio"][0].abs().argmax())
    assert abs(peak - 8000) <= 80, f"click at sample {peak}, expected the window centre 8000 (+-5 ms)"
    # the window of the sample at 2.0 s starts at the click
    assert int(samples[(video, 2.0)]["audio"][0].abs().argmax()) <= 80


def test_strict_mode_makes_a_bad_video_fatal(source, tmp_path):
    with pytest.raises(InputError, match=r"corrupt\.mp4|empty\.avi|silent\.mp4"):
        prepare_video_cache(source, tmp_path / "out", VideoConfig(frame_size=(32, 32)), workers=1, strict=True, progress=False)


def test_rerun_resumes_without_decoding_finished_videos(source, cache, tmp_path):
    out, _, _ = cache
    copy = tmp_path / "cache"
    shutil.copytree(out, copy)
    done = copy / "videos" / "flash.mp4.h5"
    before = done.stat().st_mtime_ns
    (copy / "videos" / "clips" / "other.mkv.h5").unlink()  # as if interrupted before this video finished
    (copy / "index.json").unlink()
    with pytest.warns(UserWarning):
        summary = prepare_video_cache(source, copy, VideoConfig(fps=2.0, clip_seconds=1.0, frame_size=(32, 32)), workers=1, progress=False)
    assert summary.resumed == 1 and summary.decoded == 1 and summary.samples == 9
    assert done.stat().st_mtime_ns == before
    assert len(VideoAudioPairs(copy)) == 9


def test_rerun_with_other_settings_is_refused(source, cache):
    out, _, _ = cache
    with pytest.raises(InputError, match="use the same settings"):
        prepare_video_cache(source, out, VideoConfig(fps=4.0, clip_seconds=1.0, frame_size=(32, 32)), workers=1, progress=False)


def test_unlabelled_video_in_labels_csv_is_an_input_error(tmp_path):
    write_av_file(tmp_path / "a.mp4", np.zeros((30, 16, 16, 3), np.uint8), 10, np.zeros((1, 48000)), 16000)
    (tmp_path / "labels.csv").write_text("video,label\nb.mp4,x\n")
    with pytest.raises(InputError, match="no label for the video a.mp4"):
        prepare_video_cache(tmp_path, tmp_path / "out", workers=1, progress=False)


def test_cache_without_labels_has_no_label_key(tmp_path):
    write_av_file(tmp_path / "v.mp4", np.zeros((20, 16, 16, 3), np.uint8), 10, np.zeros((1, 32000)), 16000)
    summary = prepare_video_cache(tmp_path, tmp_path / "out", VideoConfig(frame_size=(16, 16)), workers=1, progress=False)
    pairs = VideoAudioPairs(tmp_path / "out")
    assert summary.samples == len(pairs) == 3 and pairs.class_names == []
    assert "label" not in pairs[0]


def test_dataset_on_a_folder_that_is_not_a_cache_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="is not a video cache"):
        VideoAudioPairs(tmp_path)


def _damage(path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "flipped frame":
        with h5py.File(path, "r+") as h5:
            h5["frames"][1, 0, 0, 0] ^= 0xFF  # content damage the structure cannot show
    elif how == "no checksum":
        with h5py.File(path, "r+") as h5:
            del h5.attrs["checksum"]


@pytest.mark.parametrize("how", ["truncated", "flipped frame", "no checksum"])
def test_a_damaged_cache_file_is_found_and_prepare_decodes_it_again(source, cache, tmp_path, how):
    out, _, _ = cache
    copy = tmp_path / "cache"
    shutil.copytree(out, copy)
    damaged = copy / "videos" / "flash.mp4.h5"
    intact = copy / "videos" / "clips" / "other.mkv.h5"
    untouched = intact.stat().st_mtime_ns
    _damage(damaged, how)
    if how == "truncated":
        with pytest.raises(InputError, match=r"has 1 damaged file\(s\): videos/flash.mp4.h5 cannot be read as HDF5 .*prepare video again"):
            VideoAudioPairs(copy)
    with pytest.warns(UserWarning) as caught:
        summary = prepare_video_cache(source, copy, VideoConfig(fps=2.0, clip_seconds=1.0, frame_size=(32, 32)), workers=1, progress=False)
    repairs = [str(w.message) for w in caught if "re-decoding" in str(w.message)]
    assert len(repairs) == 1 and repairs[0].startswith("re-decoding flash.mp4: its cache file")
    assert (summary.decoded, summary.repaired, summary.resumed) == (1, 1, 1)
    assert "1 decoded, 1 of them repaired" in str(summary)
    assert intact.stat().st_mtime_ns == untouched, "an intact file is not decoded again"
    assert torch.equal(VideoAudioPairs(copy)[5]["rgb"], VideoAudioPairs(out)[5]["rgb"])


def test_garbled_settings_and_index_are_one_sentence(source, cache, tmp_path):
    out, _, _ = cache
    copy = tmp_path / "cache"
    shutil.copytree(out, copy)
    (copy / "index.json").write_text('{"videos": [')
    with pytest.raises(InputError, match=r"index.json is damaged \(not valid JSON\); run crossmodal-prepare video again to rebuild it"):
        VideoAudioPairs(copy)
    (copy / "settings.json").write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match=r"settings.json is damaged \(not valid JSON\); remove it"):
        prepare_video_cache(source, copy, VideoConfig(fps=2.0, clip_seconds=1.0, frame_size=(32, 32)), workers=1, progress=False)


def test_byte_flipped_cache_files_are_refused_in_one_sentence_or_repaired(source, cache, tmp_path):
    out, _, _ = cache
    original = (out / "videos" / "flash.mp4.h5").read_bytes()
    positions = np.random.default_rng(2).integers(0, len(original), 30)
    settings = VideoConfig(fps=2.0, clip_seconds=1.0, frame_size=(32, 32))
    outcomes = {"refused": 0, "opened": 0, "repaired": 0}
    for k, position in enumerate(positions):
        copy = tmp_path / f"cache{k}"
        shutil.copytree(out, copy)
        damaged = bytearray(original)
        damaged[position] ^= 0xFF
        (copy / "videos" / "flash.mp4.h5").write_bytes(bytes(damaged))
        try:
            VideoAudioPairs(copy)
            outcomes["opened"] += 1
        except InputError as error:
            assert "flash.mp4.h5" in str(error) and "\n" not in str(error)
            outcomes["refused"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = prepare_video_cache(source, copy, settings, workers=1, progress=False)
        # whatever the flip hit, prepare leaves the cache byte-for-byte usable: the file is intact or decoded again
        repaired = VideoAudioPairs(copy)
        assert all(torch.equal(repaired[i]["rgb"], VideoAudioPairs(out)[i]["rgb"]) for i in range(len(repaired)))
        outcomes["repaired"] += summary.repaired
    # most flips land in frame data, which only the checksum can see; prepare found and re-decoded them
    assert outcomes["repaired"] > 0 and outcomes["refused"] + outcomes["opened"] == len(positions)
