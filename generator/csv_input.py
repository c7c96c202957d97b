"""Reading source CSVs: BOM, quoted fields with newlines inside, a header that must match."""

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class InputFileError(ValueError):
    """A source file is missing or its header is not the expected one; names file and problem."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    source: str  # file:line where the row starts, for dead letters and error messages
    fields: dict[str, str] | None  # None when the row has the wrong number of fields
    raw: list[str]
    problem: str = ""


def read_csv(path: Path, columns: tuple[str, ...]) -> Iterator[CsvRow]:
    """Rows of `path` keyed by its header, which must hold exactly `columns` (in any order)."""
    if not path.is_file():
        raise InputFileError(f"{path} does not exist")
    # utf-8-sig drops a BOM; newline="" lets the csv module keep newlines inside quoted fields.
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in columns if c not in header]
        unexpected = [h for h in header if h not in columns]
        if missing or unexpected:
            raise InputFileError(
                f"{path}: wrong header {header}; expected the columns {list(columns)}"
                + (f"; missing {missing}" if missing else "")
                + (f"; unexpected {unexpected}" if unexpected else "")
            )
        line = reader.line_num + 1
        for fields in reader:
            source = f"{path.name}:{line}"
            line = reader.line_num + 1
            if len(fields) != len(header):
                yield CsvRow(
                    source, None, fields, f"expected {len(header)} fields, got {len(fields)}"
                )
            else:
                yield CsvRow(source, dict(zip(header, fields, strict=True)), fields)
