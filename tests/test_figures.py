"""Tests of the figure command: deterministic output, working --check and
--out."""

import subprocess
import sys

from lecture_code import figures


def test_every_lecture_figure_is_registered():
    assert set(figures.FIGURES) == {
        "04_fig_simplex.svg",
        "04_fig_softmax_map.svg",
        "04_fig_temperature.svg",
    }


def test_rendering_is_byte_identical_within_a_process():
    first = figures.render_all(["04_fig_simplex.svg"])
    second = figures.render_all(["04_fig_simplex.svg"])
    assert first == second
    svg = first["04_fig_simplex.svg"]
    assert b"<dc:date>" not in svg and b"Matplotlib v" not in svg


def test_check_detects_stale_and_out_writes(tmp_path):
    assert (
        figures.main(["--out", str(tmp_path), "04_fig_temperature.svg"]) == 0
    )
    target = tmp_path / "04_fig_temperature.svg"
    assert (
        target.read_bytes()
        == figures.render_all(["04_fig_temperature.svg"])[
            "04_fig_temperature.svg"
        ]
    )
    assert (
        figures.main(
            ["--check", "--out", str(tmp_path), "04_fig_temperature.svg"]
        )
        == 0
    )
    target.write_bytes(target.read_bytes() + b"\n")
    assert (
        figures.main(
            ["--check", "--out", str(tmp_path), "04_fig_temperature.svg"]
        )
        == 1
    )


def test_committed_figures_are_fresh_and_identical_across_processes(tmp_path):
    # A separate interpreter (fresh hash seeds, fresh font cache state) must
    # write the same bytes.
    subprocess.run(
        [sys.executable, "-m", "lecture_code.figures", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in figures.FIGURES:
        assert (tmp_path / name).read_bytes() == (
            figures.FIGURE_DIR / name
        ).read_bytes(), name
