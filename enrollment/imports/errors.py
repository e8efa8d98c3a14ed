"""Row errors: which spreadsheet row, which column (the header as written in the file), and why."""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from ..idnumbers import mask_numbers_in_text

# The clerk fixes a file from the first errors; thousands of copies of the same mistake help nobody, and the
# job stores its errors as JSON. The count of rejected rows stays exact.
MAX_REPORTED_ERRORS = 1000
_MAX_KEPT_ERRORS = 20000


@dataclass(frozen=True, slots=True)
class RowError:
    row: int | None  # None: the file as a whole (unreadable, no data rows …)
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict) -> "RowError":
        return cls(row=data.get("row"), column=data.get("column", ""), message=data.get("message", ""))

    def __str__(self) -> str:
        if self.row is None:
            return f"{self.column}: {self.message}" if self.column else self.message
        if self.column:
            return _("row %(row)d, column %(column)s: %(message)s") % {
                "row": self.row, "column": self.column, "message": self.message}
        return _("row %(row)d: %(message)s") % {"row": self.row, "message": self.message}


class ErrorLog:
    def __init__(self):
        self._errors: list[RowError] = []
        self.count = 0
        self.rejected_rows: set[int] = set()

    def add(self, row: int | None, column: str, message: str) -> None:
        # Messages may quote a cell, and the result page is also read by colleagues who see numbers masked; the
        # row and column already say where the cell is.
        message = mask_numbers_in_text(message)
        self.count += 1
        if row is not None:
            self.rejected_rows.add(row)
        if len(self._errors) < _MAX_KEPT_ERRORS:
            self._errors.append(RowError(row, column, message))

    def __bool__(self) -> bool:
        return self.count > 0

    def reported(self) -> list[RowError]:
        """Errors in row order (file-level errors first), at most MAX_REPORTED_ERRORS of them."""
        ordered = sorted(self._errors, key=lambda e: -1 if e.row is None else e.row)
        shown = ordered[:MAX_REPORTED_ERRORS]
        if self.count > len(shown):
            shown.append(RowError(None, "", _("… and %(n)d more errors not listed.") % {"n": self.count - len(shown)}))
        return shown
