"""The Redis CPU benchmark's arithmetic, arguments and frame (load/bench_redis_cpu.py); no services."""

from __future__ import annotations

from pathlib import Path

import pytest

from load.bench_redis_cpu import RedisSample, frame_near, parse_args, redis_figures, share_per_100_fps


def test_share_per_100_frames_per_second() -> None:
    # 0.05 CPU s per s at 25 frames/s: 2 ms a frame, 0.2 s per 100 frames: 20 % of one core.
    assert share_per_100_fps(0.05, 25.0) == pytest.approx(20.0)
    assert share_per_100_fps(1.0, 100.0) == pytest.approx(100.0)


def test_window_figures_come_from_the_differences_of_two_samples() -> None:
    before = RedisSample(10.0, 9.0, 1.0, {"xadd": (100, 1_000), "get": (50, 100)}, 1, 1, 0)
    after = RedisSample(13.0, 11.4, 1.6, {"xadd": (1_300, 7_000), "get": (650, 1_100), "set": (600, 2_000),
                                          "exec": (60, 1_000)},
                        5_000_000, 6_000_000, 42)
    figures = redis_figures(before, after, seconds=60.0, frames=600)
    assert figures["frames_per_s"] == 10.0
    assert figures["cpu_s_per_s"] == pytest.approx(0.05)
    assert figures["cpu_pct_one_core_per_100_fps"] == pytest.approx(50.0)
    assert figures["main_thread_pct_one_core_per_100_fps"] == pytest.approx(40.0)
    assert figures["children_cpu_s_per_s"] == pytest.approx(0.01)
    assert [c["command"] for c in figures["commands"]] == ["xadd", "set", "get", "exec"]  # by usec
    xadd = figures["commands"][0]
    assert (xadd["calls_per_frame"], xadd["usec_per_call"], xadd["usec_share"]) == (2.0, 5.0, 0.6667)
    assert figures["commands_usec_per_frame"] == pytest.approx(15.0)  # EXEC's time is its commands'
    assert figures["commands"][-1]["includes_inner_commands"]
    assert figures["used_memory_mb"] == 5.0


def test_arguments() -> None:
    args = parse_args(["--sessions", "2,6", "--window", "30", "--no-persist"])
    assert (args.sessions, args.window, args.persist, args.frame_kb) == ([2, 6], 30.0, False, 40.0)
    for wrong in (["--sessions", "x"], ["--sessions", "0"], ["--fps", "0"], ["--frame-kb", "0.5"]):
        with pytest.raises(SystemExit):
            parse_args(wrong)


def test_the_frame_is_a_real_face_near_the_wanted_size(data_dir: Path) -> None:
    frame, quality = frame_near(data_dir, 40_000)
    assert frame[:2] == b"\xff\xd8"
    assert 1 <= quality <= 95
    assert abs(len(frame) - 40_000) < 3_000
