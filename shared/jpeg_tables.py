"""libjpeg's standard quantisation tables and its quality rule, in one place.

Both the estimator's JPEG forensics (a frame's own quality, the re-save errors of the JPEG ghost)
and the VirtualCameraChecker's encoder traits (is this the page's canvas encoder at its quality?)
read JPEGs against the tables libjpeg writes; services share code only through ``shared/``.
"""

from __future__ import annotations

# Annex K tables in natural (row-major) order, as libjpeg's jcparam.c holds them.
STD_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)
STD_CHROMINANCE = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, *(99,) * 32,
)
QUALITIES = range(1, 101)


def ijg_table(standard: tuple[int, ...], quality: int) -> tuple[int, ...]:
    """libjpeg's jpeg_set_quality: the standard table scaled for ``quality`` (baseline, 1..255)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(min(255, max(1, (value * scale + 50) // 100)) for value in standard)
