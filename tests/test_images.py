"""Images drawn in the terminal: half blocks with the upper pixel as foreground, the lower as background."""

import numpy as np
import pytest
from rich.console import Console

from tui.core.images import downscale, image_text


def cells(text):
    """(character, foreground rgb, background rgb) for each cell, line by line."""
    out, line = [], []
    for seg in text.render(Console(color_system="truecolor")):
        if seg.text == "\n":
            out.append(line)
            line = []
            continue
        for ch in seg.text:
            fg = seg.style.color.get_truecolor() if seg.style and seg.style.color else None
            bg = seg.style.bgcolor.get_truecolor() if seg.style and seg.style.bgcolor else None
            line.append((ch, tuple(fg) if fg else None, tuple(bg) if bg else None))
    return out + ([line] if line else [])


def test_a_grayscale_image_becomes_half_blocks_two_pixel_rows_per_line():
    img = np.array([[0, 255], [10, 20], [30, 40], [50, 60]], dtype=np.uint8)  # 4 rows x 2 columns
    text = image_text(img)
    assert text.plain == "▀▀\n▀▀"
    g = lambda v: (v, v, v)  # noqa: E731
    assert cells(text) == [
        [("▀", g(0), g(10)), ("▀", g(255), g(20))],
        [("▀", g(30), g(50)), ("▀", g(40), g(60))],
    ]
    assert cells(image_text(img[..., None])) == cells(text)  # HxWx1 is the same picture


def test_rgb_pixels_keep_their_colours_and_an_odd_last_row_has_no_background():
    img = np.array([[[255, 0, 0]], [[0, 128, 255]], [[1, 2, 3]]], dtype=np.uint8)  # 3 rows x 1 column
    assert cells(image_text(img)) == [[("▀", (255, 0, 0), (0, 128, 255))], [("▀", (1, 2, 3), None)]]


def test_large_images_are_shrunk_by_averaging_to_fit_the_cell_limits():
    img = np.zeros((4, 4, 3), np.uint8)
    img[:2, 2:] = 100  # top-right 2x2 block
    img[2:, :2] = 200  # bottom-left 2x2 block
    small = downscale(img, max_width=2)
    assert small.shape == (2, 2, 3) and small[..., 0].tolist() == [[0, 100], [200, 0]]
    assert image_text(img, max_width=2).plain == "▀▀"
    assert image_text(img, max_height=1).plain == "▀▀"  # one line = two pixel rows
    assert image_text(img, max_width=10, max_height=10).plain == "▀▀▀▀\n▀▀▀▀"  # never enlarged


def test_other_arrays_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="uint8"):
        image_text(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        image_text(np.zeros((2, 2, 2), np.uint8))
