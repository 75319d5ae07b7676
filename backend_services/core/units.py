"""Sizes as people read them, for upload limits and the admin's System page alike."""

from __future__ import annotations

import math

MIB = 1024 * 1024
GIB = 1024 * MIB


def format_size(num_bytes: int, *, round_up: bool = False) -> str:
    """Render a byte count the way people read sizes ("31 MB", "350 KB", "2.5 GB"; a
    shrinking table's growth reads "-12 KB").

    `round_up` is used for the file being refused so a file just over the limit never
    reads as equal to it ("20.1 MB", not "20 MB").
    """
    sign, num_bytes = ("-" if num_bytes < 0 else ""), abs(num_bytes)
    for unit, size in (("GB", GIB), ("MB", MIB), ("KB", 1024)):
        if num_bytes >= size:
            value = num_bytes / size
            value = math.ceil(value * 10) / 10 if round_up else round(value, 1)
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{sign}{text} {unit}"
    return f"{sign}{num_bytes} bytes"
