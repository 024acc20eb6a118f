"""The region of interest as a user gives it: checked without PyTorch, so that reading a sequence needs none."""
from .errors import InputError

MIN_ROI_SIDE = 16  # pixels; a smaller region holds too little of the heart to track


def check_roi(roi: tuple[int, int, int, int], height: int, width: int) -> tuple[int, int, int, int]:
    """Validate a user's box (x0, y0, x1, y1): columns x0..x1-1, rows y0..y1-1 of an H x W frame."""
    x0, y0, x1, y1 = (int(v) for v in roi)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise InputError(f"the region of interest {x0},{y0},{x1},{y1} must satisfy 0 <= x0 < x1 <= {width} "
                         f"and 0 <= y0 < y1 <= {height} (x1, y1 exclusive) for {height}x{width} frames")
    if min(x1 - x0, y1 - y0) < MIN_ROI_SIDE:
        raise InputError(f"the region of interest {x0},{y0},{x1},{y1} is {x1 - x0}x{y1 - y0} pixels; "
                         f"it needs at least {MIN_ROI_SIDE} on each side")
    return x0, y0, x1, y1


