"""Cell text both ways: values as cells, and cells a spreadsheet would run as formulas.

A spreadsheet runs a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return as a
formula (CSV injection). Export puts a `'` in front of such text, which spreadsheets show as the
text itself; import takes it off again, so a file round-trips to the same values. A value that
already looks escaped (`'` followed by such text) gets one more `'`, so no value is ever changed.
"""

from enum import Enum

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def _looks_escaped(text: str) -> bool:
    """True for text that starts a formula, or is one or more `'` before such text."""
    rest = text.lstrip(ESCAPE)
    return rest.startswith(FORMULA_STARTS)


def neutralise(text: str) -> str:
    return ESCAPE + text if _looks_escaped(text) else text


def restore(cell: str) -> str:
    """The value `neutralise` was given: one `'` off a cell that looks escaped."""
    if cell.startswith(ESCAPE) and _looks_escaped(cell[1:]):
        return cell[1:]
    return cell


def to_cell(value: object) -> str:
    """A value as its cell; numbers are written in full and never neutralised (they are data)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return repr(value)  # repr keeps every digit
    if isinstance(value, int):
        return str(value)
    return neutralise(str(value))
