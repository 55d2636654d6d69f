"""Reading small CSV tables (rate points, anchors, imports) with errors that name file and line."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from vcmctc.errors import UserError


@dataclass(frozen=True)
class CsvRows:
    path: Path
    header: list[str]                      # trimmed, lower case
    header_line: int
    rows: list[tuple[int, list[str]]]      # (line number, cells) of the non-empty rows

    def column(self, name: str) -> int:
        return self.header.index(name)

    def check_widths(self) -> None:
        """Every row has as many fields as the header."""
        for line, cells in self.rows:
            if len(cells) != len(self.header):
                raise UserError(f"{len(cells)} fields but the header has {len(self.header)}",
                                file=self.path, line=line)


def read_csv_rows(path: str | Path) -> CsvRows:
    path = Path(path)
    if not path.exists():
        raise UserError("no such file", file=path)
    if path.is_dir():
        raise UserError("is a directory, expected a CSV file", file=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"not a text CSV file (not UTF-8 at byte {exc.start})", file=path) from None
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    header_line = 0
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header, header_line = [c.strip().lower() for c in cells], reader.line_num
            else:
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise UserError(f"not a valid CSV file: {exc}", file=path, line=reader.line_num) from None
    if header is None:
        raise UserError("empty file, expected a CSV header", file=path)
    return CsvRows(path, header, header_line, rows)
