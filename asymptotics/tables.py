"""Plain-text tables shared by the command line and the paper table."""
from __future__ import annotations

__all__ = ["text_table"]


def text_table(header: list, rows: list) -> str:
    """Right-aligned columns of strings under a header and a rule."""
    cells = [list(header)] + rows
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
