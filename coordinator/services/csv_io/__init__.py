"""CSV import and export of users, students, rooms, exams, exam sessions and assignments.

`reading` turns a file into validated rows, `importing` calls the owning services' verbs for
each row, `exporting` writes records back in the same columns, `cells` keeps spreadsheets from
running cells as formulas, and `access` says who may move which kind. See docs/csv.md.
"""

from coordinator.services.csv_io.access import admin_actor, require_kind
from coordinator.services.csv_io.exporting import export_csv
from coordinator.services.csv_io.importing import import_csv
from coordinator.services.csv_io.reading import CsvRejectedError

__all__ = ["CsvRejectedError", "admin_actor", "export_csv", "import_csv", "require_kind"]
