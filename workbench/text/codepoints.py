"""A text as a numpy array of its Unicode code points, for whole-text numpy passes."""

from __future__ import annotations

import numpy as np


def code_points(text: str) -> np.ndarray:
    """uint32 code point of each character of ``text`` (one per ``str`` index; lone surrogates kept)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
