"""Plain-text aligned tables for terminal output."""

from __future__ import annotations

from typing import Any, Sequence


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return " ".join(fmt(v, digits) for v in value)
    return str(value)


def render(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, digits: int = 2,
           right: Sequence[str] = ()) -> str:
    cells = [[fmt(v, digits) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if h in right else v.ljust(w)
                 for v, w, h in zip(values, widths, headers)]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)
