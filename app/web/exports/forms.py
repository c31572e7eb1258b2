"""The export form: scope, filters, fields in order, format."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.exports.fields import DEFAULT_FIELDS, ExportField
from app.exports.query import (
    CONDITION_FIELDS,
    CONDITION_OPERATORS,
    TAG_MODES,
    ExportFilters,
    FieldCondition,
)
from app.exports.service import ExportRequest
from app.models import STATUS_LABELS, SUBSCRIPTION_STATUSES

SCOPES = [
    ("full", "All contacts"),
    ("filtered", "Contacts that match filters"),
    ("segment", "A segment"),
]
FORMATS = [
    ("csv", "CSV"),
    ("xlsx", "Excel (XLSX)"),
    ("json", "JSON"),
    ("ndjson", "NDJSON (one object a line)"),
]
MAX_CONDITIONS = 10


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConditionForm(Form):
    """One field condition: field, operator, value."""

    field = SelectField("Field", choices={"": "Choose a field"}, default="")
    op = SelectField("Condition", choices=dict(CONDITION_OPERATORS), default="equals")
    value = StringField("Value", default="")

    def to_condition(self) -> FieldCondition | None:
        """The condition, or None when no field is chosen."""
        if not self.field.data:
            return None
        return FieldCondition(self.field.data, self.op.data or "equals", self.value.data or "")


class ExportForm(FlaskForm):
    """What to export and how; choices are filled in for the tenant by `prepare`."""

    scope = RadioField("Contacts", choices=dict(SCOPES), default="full")
    segment = SelectField("Segment", choices={"": "Choose a segment"}, default="")
    tags = CheckboxesField("Has tags", choices={})
    tags_mode = RadioField("Match", choices=dict(TAG_MODES), default="any")
    created_from = DateField("Created from", validators=[Optional()])
    created_to = DateField("Created until", validators=[Optional()])
    updated_from = DateField("Updated from", validators=[Optional()])
    updated_to = DateField("Updated until", validators=[Optional()])
    statuses = CheckboxesField(
        "Subscription status", choices={s: STATUS_LABELS[s] for s in SUBSCRIPTION_STATUSES}
    )
    min_opened = IntegerField(
        "Opened at least", validators=[Optional(), NumberRange(min=0, message="Use 0 or more.")]
    )
    min_clicked = IntegerField(
        "Clicked at least", validators=[Optional(), NumberRange(min=0, message="Use 0 or more.")]
    )
    engaged_since = DateField("Engaged since", validators=[Optional()])
    conditions = FieldList(FormField(ConditionForm), min_entries=1, max_entries=MAX_CONDITIONS)
    fields = CheckboxesField("Fields", choices={})
    file_format = RadioField("Format", choices=dict(FORMATS), default="csv")
    csv_for_excel = BooleanField("For Excel (UTF-8 with a byte order mark)")

    def prepare(
        self,
        available: Sequence[ExportField],
        tags: Sequence[tuple[str, str]],
        segments: Sequence[tuple[str, str]],
        order: Sequence[str],
    ) -> None:
        """Fill in the tenant's choices and the field order (`order` from the page, if any)."""
        self.available = list(available)
        keys = [f.key for f in self.available]
        self.fields.choices = {f.key: f.label for f in self.available}
        self.tags.choices = dict(tags)
        self.segment.choices = {"": "Choose a segment", **dict(segments)}
        condition_choices = {"": "Choose a field", **CONDITION_FIELDS}
        condition_choices.update({f.key: f.label for f in self.available if f.is_custom})
        for entry in self.conditions:
            entry.form.field.choices = condition_choices
        self.condition_choices = condition_choices
        known = [k for k in dict.fromkeys(order) if k in keys]
        if not known:
            known = [k for k in DEFAULT_FIELDS if k in keys]
        self.order = known + [k for k in keys if k not in known]
        if not self.is_submitted() and not self.fields.data:
            self.fields.data = [k for k in DEFAULT_FIELDS if k in keys]

    def add_condition(self) -> None:
        """Show one more (empty) condition row."""
        if len(self.conditions) < MAX_CONDITIONS:
            self.conditions.append_entry()
            self.conditions[-1].form.field.choices = self.condition_choices

    def move(self, key: str, step: int) -> None:
        """Move field `key` up (-1) or down (+1) in the order."""
        if key not in self.order:
            return
        index = self.order.index(key)
        target = max(0, min(len(self.order) - 1, index + step))
        self.order.insert(target, self.order.pop(index))

    def ordered_fields(self) -> list[tuple[ExportField, bool]]:
        """Every field in the current order, with whether it is chosen."""
        chosen = set(self.fields.data or [])
        by_key = {f.key: f for f in self.available}
        return [(by_key[k], k in chosen) for k in self.order]

    def chosen_fields(self) -> list[str]:
        """The chosen field keys, in order."""
        chosen = set(self.fields.data or [])
        return [k for k in self.order if k in chosen]

    def validate_fields(self, field: Any) -> None:
        """At least one field."""
        if not field.data:
            raise ValidationError("Choose at least one field to export.")

    def validate_segment(self, field: Any) -> None:
        """A segment when the scope is a segment."""
        if self.scope.data == "segment" and not field.data:
            raise ValidationError("Choose the segment to export.")

    def validate_conditions(self, field: Any) -> None:
        """Equals and contains need a value (a field not in the list is refused by its picker)."""
        for entry in field:
            condition = entry.form.to_condition()
            if condition is None or condition.field not in self.condition_choices:
                continue
            if condition.op in ("equals", "contains") and not condition.value.strip():
                raise ValidationError(
                    f"Type the value that {self.condition_choices[condition.field]} "
                    f"should {'equal' if condition.op == 'equals' else 'contain'}."
                )

    def validate(self, extra_validators: Any = None) -> bool:
        """Field checks, then dates that end before they start."""
        ok = super().validate(extra_validators)
        for start, end in (
            (self.created_from, self.created_to),
            (self.updated_from, self.updated_to),
        ):
            if start.data and end.data and end.data < start.data:
                end.errors = [*end.errors, "This date is before the start date."]
                ok = False
        return ok

    def to_filters(self) -> ExportFilters:
        """The filters as the service stores them."""

        def iso(field: Any) -> str | None:
            return field.data.isoformat() if field.data else None

        conditions = [c for c in (e.form.to_condition() for e in self.conditions) if c]
        return ExportFilters(
            segment_id=self.segment.data or None if self.scope.data == "segment" else None,
            tags=list(self.tags.data or []),
            tags_mode=self.tags_mode.data or "any",
            created_from=iso(self.created_from),
            created_to=iso(self.created_to),
            updated_from=iso(self.updated_from),
            updated_to=iso(self.updated_to),
            statuses=list(self.statuses.data or []),
            conditions=conditions,
            min_opened=self.min_opened.data or None,
            min_clicked=self.min_clicked.data or None,
            engaged_since=iso(self.engaged_since),
        )

    def to_request(self) -> ExportRequest:
        """The export the form asks for."""
        return ExportRequest(
            export_type=self.scope.data or "full",
            filters=self.to_filters(),
            fields=self.chosen_fields(),
            file_format=self.file_format.data or "csv",
            csv_for_excel=bool(self.csv_for_excel.data),
        )
