"""Depth sanity in one place: every reader, the ROS conversion and bag import go through here.

Raw depth arrives as integers in a format's units (ScanNet / 7-Scenes / Redwood: 1000 per metre,
TUM: 5000 per metre, 16UC1 ROS images: `depth_scale` metres per unit) or as float metres. What
comes out is float32 metres with every invalid pixel set to `fill`:
- invalid markers: 0, the 16-bit maximum 65535 (7-Scenes, Kinect "no return"), NaN and inf;
- far returns beyond `max_depth_m` (default 10 m, the value the ROS path has always used).
A scale that is implausible for the format (typically a wrong units-per-metre, e.g. TUM's 5000 /
m read as millimetres: everything five times too far) is reported with one warning naming the
file and the likely fix; the frame itself is still returned.
"""

from __future__ import annotations

import logging

import numpy as np

from segpilot.errors import SegpilotError

log = logging.getLogger(__name__)

DEFAULT_MAX_DEPTH_M = 10.0
"""Far cut for depth, metres (indoor RGB-D sensors are unreliable beyond it)."""
UINT16_INVALID = 65535
"""16-bit depth value that marks "no return" (7-Scenes, several Kinect drivers)."""
MIN_PLAUSIBLE_MEDIAN_M = 0.1
"""Median valid depth below this (or above `max_depth_m`, where most pixels would be cut) means the
units are probably wrong."""
_WARNED: set[str] = set()
_CHECKED: set[str] = set()
"""Scopes whose scale was judged (plausible or warned): a scan's units are one property, so its later frames skip
the median (~0.3 ms a frame; a coverage selection reads ~100)."""


def depth_to_metres(
    raw: np.ndarray,
    units_per_m: float | None = None,
    max_depth_m: float = DEFAULT_MAX_DEPTH_M,
    source: str = "depth",
    fill: float = 0.0,
    scope: str | None = None,
) -> np.ndarray:
    """(H, W) float32 metres from raw depth; invalid pixels (markers, non-finite, <= 0, > max) -> `fill`.

    `units_per_m` None means `raw` is already in metres (float images). The scale warning is given once
    per `scope` (e.g. the scan folder; default: `source`)."""
    raw = np.asarray(raw)
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[..., 0]
    if raw.ndim != 2:
        raise SegpilotError(f"{source}: depth must be one channel (H, W), got shape {raw.shape}")
    if raw.dtype == np.uint8:
        raise SegpilotError(f"{source}: depth is 8-bit; expected 16-bit integers (e.g. millimetres) or float metres")
    if not max_depth_m > 0:
        raise SegpilotError(f"max_depth_m must be > 0, got {max_depth_m}")
    if units_per_m is not None and not (np.isfinite(units_per_m) and units_per_m > 0):
        raise SegpilotError(f"{source}: depth units per metre must be > 0, got {units_per_m}")
    integer = np.issubdtype(raw.dtype, np.integer)
    depth = raw.astype(np.float32)
    invalid = ~np.isfinite(depth) | (depth <= 0)
    if integer:
        invalid |= raw == UINT16_INVALID
    if units_per_m is not None:
        depth /= np.float32(units_per_m)
    key = scope or source
    if key not in _WARNED and key not in _CHECKED:
        verdict = scale_verdict(np.where(invalid, np.nan, depth), source, units_per_m, max_depth_m)
        if verdict is not None:  # None: too few valid pixels to judge, ask the next frame
            (_WARNED if verdict else _CHECKED).add(key)
    depth[invalid | (depth > max_depth_m)] = fill
    return depth


def scale_verdict(depth_m: np.ndarray, source: str, units_per_m: float | None,
                  max_depth_m: float = DEFAULT_MAX_DEPTH_M) -> bool | None:  # fmt: skip
    """One warning when the median valid depth is below `MIN_PLAUSIBLE_MEDIAN_M` or beyond `max_depth_m`; returns
    whether it warned, or None when fewer than 16 valid pixels leave nothing to judge."""
    valid = depth_m[np.isfinite(depth_m) & (depth_m > 0)]
    if valid.size < 16:
        return None
    median = float(np.median(valid))
    if MIN_PLAUSIBLE_MEDIAN_M <= median <= max_depth_m:
        return False
    scale = f"{units_per_m:g} units per metre" if units_per_m else "metres"
    hint = "TUM RGB-D uses 5000 units per metre, ScanNet / 7-Scenes / Redwood 1000" if units_per_m else "float metres"
    log.warning("%s: median depth %.2f m read as %s is implausible for an indoor scan (max_depth_m %g); "
                "check the depth scale (%s)", source, median, scale, max_depth_m, hint)  # fmt: skip
    return True
