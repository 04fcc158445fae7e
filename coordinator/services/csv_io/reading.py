"""Reading a CSV file into validated rows: encoding, header, cell count, field types.

Whole-file problems (not UTF-8, broken quoting, a wrong header) refuse the file at once; a row
whose cells fail their types leaves its problems and is skipped, so every row is reported.
"""

import csv
import io
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from coordinator.errors import CoordinatorError
from coordinator.schemas.csv_io import ROW_MODELS, CsvKind, CsvRow, RowProblem, columns_of
from coordinator.services.csv_io.cells import restore

Rows = list[tuple[int, CsvRow]]
# Each row is one service call with its audit entry (see docs/performance.md); a larger file is
# split, so that one request never holds a worker and the audit chain for minutes.
MAX_ROWS = 5000


class CsvRejectedError(CoordinatorError, ValueError):
    """An import found problems in its file; nothing was written. `problems` lists every one."""

    status_code = 422
    code = "csv_rejected"

    def __init__(self, kind: CsvKind, problems: list[RowProblem]) -> None:
        self.kind = kind
        self.problems = sorted(problems, key=lambda problem: problem.row)
        first = self.problems[0]
        where = f"row {first.row}" + (f", {first.column}" if first.column else "")
        rows = len({problem.row for problem in problems})
        super().__init__(
            f"{kind.value} not imported: {len(problems)} problem(s) in {rows} row(s), "
            f"first at {where}: {first.message}"
        )


def read_rows(kind: CsvKind, data: bytes) -> tuple[Rows, list[RowProblem]]:
    """Rows that passed their model, and the problems of those that did not."""
    try:
        text = data.decode("utf-8-sig")  # Excel writes a byte-order mark; it is not a column
    except UnicodeDecodeError as error:
        raise CsvRejectedError(
            kind, [_whole_file(f"not UTF-8 text (byte {error.start})")]
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        _check_header(kind, header)
        return _validate_rows(kind, header, reader)
    except csv.Error as error:
        raise CsvRejectedError(kind, [_whole_file(f"line {reader.line_num}: {error}")]) from None


def _whole_file(message: str) -> RowProblem:
    return RowProblem(row=1, column=None, message=message)


def _check_header(kind: CsvKind, header: list[str]) -> None:
    expected = columns_of(kind)
    problems = [
        RowProblem(row=1, column=name, message="this column is missing")
        for name in expected
        if name not in header
    ]
    problems += [
        RowProblem(row=1, column=name or None, message=f"{kind.value} files have no such column")
        for name in header
        if name not in expected
    ]
    problems += [
        RowProblem(row=1, column=name, message="this column appears twice")
        for name in dict.fromkeys(header)
        if header.count(name) > 1
    ]
    if problems:
        raise CsvRejectedError(kind, problems)


def _validate_rows(
    kind: CsvKind, header: list[str], reader: Iterator[list[str]]
) -> tuple[Rows, list[RowProblem]]:
    model = ROW_MODELS[kind]
    rows: Rows = []
    problems: list[RowProblem] = []
    for row, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # spreadsheets leave empty lines at the end
        if len(rows) + len(problems) >= MAX_ROWS:
            message = f"more than {MAX_ROWS} rows: split the file"
            raise CsvRejectedError(kind, [_whole_file(message)])
        if len(cells) != len(header):
            message = f"has {len(cells)} cells where the header has {len(header)}"
            problems.append(RowProblem(row=row, column=None, message=message))
            continue
        values = {name: restore(cell) for name, cell in zip(header, cells, strict=True)}
        try:
            rows.append((row, model.model_validate(values)))
        except ValidationError as error:
            problems += [
                RowProblem(row=row, column=_column(item), message=field_message(item))
                for item in error.errors(include_url=False)
            ]
    return rows, problems


def _column(item: Any) -> str | None:
    return str(item["loc"][0]) if item["loc"] else None


def field_message(item: Any) -> str:
    """A field error as the API's error body words it, or 'empty' for a missing cell."""
    if item.get("input") is None and item["type"] == "missing":
        return "this cell may not be empty"
    return str(item["msg"])
