"""One root exception for the project, one subclass per kind of problem.

Messages say what is wrong, show the value, and end with a hint when there is a fix.
"""

from __future__ import annotations


class PromessaError(Exception):
    """Root of every error promessa raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message + (f" (hint: {hint})" if hint else ""))


class SnapshotError(PromessaError):
    """A supply snapshot (directory of tables) is refused.

    Carries the file, the 1-based data row (None for whole-table problems), the column and the
    offending value, so that the message can point at the exact cell.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.value = value
        where = file
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        if value is not None:
            where += f", value {value!r}"
        super().__init__(f"{where}: {message}", hint=hint)


class ValidationError(PromessaError):
    """A request or input record is invalid; names the field and the value."""

    def __init__(self, message: str, *, field: str, value: object = None, hint: str | None = None) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}={value!r}: {message}", hint=hint)


class NotFoundError(PromessaError):
    """An id (item, location, order, scenario...) does not exist."""


class ConflictError(PromessaError):
    """The request conflicts with the current state (transition not allowed, idempotency key reused)."""


class FormUnsupported(ConflictError):
    """A feature that runs on the dense supply form only was asked for while ``supply.form`` is
    ``compact``: refused (never answered from the wrong form), naming the feature and the setting."""

    def __init__(self, feature: str) -> None:
        self.feature = feature
        super().__init__(f"{feature} is not available with supply.form=compact (it runs on the dense supply form only)",
                         hint="set supply.form=dense (PROMESSA_SUPPLY__FORM=dense) to use it")


class InfeasibleError(PromessaError):
    """An optimisation model has no solution; names the business rule that makes it so."""

    def __init__(self, message: str, *, rules: list[str] | None = None, hint: str | None = None) -> None:
        self.rules = rules or []
        super().__init__(message, hint=hint)


class FileRecordError(ValidationError):
    """A record of a data file (rules, customers, screening lists, programs) is refused at ``file``,
    1-based data ``row`` (the CSV row after the header, or the position in a YAML/JSON list),
    ``field`` and ``value``. Packages subclass it to say which kind of file it was."""

    def __init__(self, message: str, *, file: str, row: int | None, field: str, value: object = None,
                 hint: str | None = None) -> None:
        self.file = file
        self.row = row
        self.field = field
        self.value = value
        where = file + (f", row {row}" if row is not None else "")
        PromessaError.__init__(self, f"{where}, field {field!r}, value {value!r}: {message}", hint=hint)
