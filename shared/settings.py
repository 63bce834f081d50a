"""Per-service settings (the seed's SystemSetting), each service in its own table.

A service declares the settings it reads (`Declared`, gathered in one `ServiceSettings`):
key, type, bounds or allowed values, default, description, whether it is secret. The
declaration is the one place a value is checked: the staff API (`system_settings` and
`change_system_settings`, every service's through `shared.entrypoints.ServiceBase`) and a
service's own admin endpoint (billing's settings) both validate with it.

A setting the table does not hold has its default. Where the default comes from an
environment variable (`Declared.environment`), it is read when the value is: the row staff
write overrides the environment, and removing it (`null`) hands the value back to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from shared.authorization import require_staff
from shared.clock import utcnow
from shared.ids import cuid
from shared.schemas import StrictSchema, load
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Value = int | bool | str
# The setting's longest key and text value (SystemSetting.key is 128; audit entity ids 64).
MAX_KEY = 64
MAX_TEXT = 500
CHANGED = "system_setting.changed"
RESET = "system_setting.reset"


class Kind(StrEnum):
    INTEGER = "integer"
    BOOLEAN = "boolean"
    STRING = "string"


class _StrictBoolean(fields.Boolean):
    """JSON true or false only: marshmallow's Boolean also takes 1, "yes", "on"..."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean: true or false.")
        return value


@dataclass(frozen=True)
class Declared:
    """One setting a service reads. `default` is its value as text, or a function giving
    it (for one read from the environment at run time: name the variable in
    `environment`). A secret setting's value and default are never answered or audited."""

    key: str
    kind: Kind
    description: str
    default: str | Callable[[], str]
    environment: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    secret: bool = False

    def __post_init__(self) -> None:
        if not 0 < len(self.key) <= MAX_KEY:
            raise ValueError(f"setting key {self.key!r}: 1 to {MAX_KEY} characters")

    def field(self) -> fields.Field:
        """The marshmallow field that checks a new value; null resets to the default."""
        options: dict[str, Any] = {
            "data_key": self.key,
            "allow_none": True,
            "metadata": {"description": f"{self.description}; null: back to the default"},
        }
        if self.kind is Kind.BOOLEAN:
            return _StrictBoolean(**options)
        if self.kind is Kind.INTEGER:
            bounds = validate.Range(min=self.minimum, max=self.maximum)
            return fields.Integer(strict=True, validate=bounds, **options)
        checks: list[Callable[[Any], Any]] = [validate.Length(min=1, max=MAX_TEXT)]
        if self.choices:
            checks.append(validate.OneOf(self.choices))
        if self.pattern:
            checks.append(validate.Regexp(self.pattern, error="must match {regex}"))
        return fields.String(validate=checks, **options)

    def check(self, value: Any) -> Value:
        """`value` as this setting's type, or ValueError saying what is wrong."""
        try:
            return self.field().deserialize(value)
        except ValidationError as exc:
            raise ValueError("; ".join(_messages(exc.messages))) from None

    def parse(self, text: str) -> Value:
        """The stored text as a value of the setting's type (ValueError if it is not)."""
        if self.kind is Kind.INTEGER:
            return self.check(int(text))
        if self.kind is Kind.BOOLEAN:
            if text not in ("true", "false"):
                raise ValueError(f"{text!r} is not true or false")
            return text == "true"
        return self.check(text)

    def text(self, value: Value) -> str:
        if self.kind is Kind.BOOLEAN:
            return "true" if value else "false"
        return str(value)

    def default_value(self) -> Value:
        """ValueError naming the environment variable when it holds no valid value."""
        text = self.default() if callable(self.default) else self.default
        try:
            return self.parse(text)
        except ValueError as exc:
            source = self.environment or f"the default of {self.key}"
            raise ValueError(f"{source}: {text!r}: {exc}") from None

    def describe(self) -> dict[str, Any]:
        """What the listing says of the setting, besides its values."""
        return {
            "key": self.key,
            "type": self.kind.value,
            "description": self.description,
            "environment": self.environment,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices) or None,
            "pattern": self.pattern,
            "secret": self.secret,
        }


def _messages(messages: Any) -> list[str]:
    if isinstance(messages, dict):
        return [text for value in messages.values() for text in _messages(value)]
    if isinstance(messages, list):
        return [str(text) for text in messages]
    return [str(messages)]


class ServiceSettings:
    """The settings one service declares, read and changed in its `system_settings` table."""

    def __init__(self, service: str, declared: Sequence[Declared]) -> None:
        self.service = service
        self.declared = {setting.key: setting for setting in declared}
        if len(self.declared) != len(declared):
            raise ValueError(f"{service}: a setting key is declared twice")

    def __iter__(self) -> Iterator[Declared]:
        return iter(self.declared.values())

    def schema(self) -> type[Schema]:
        """A strict schema with one optional field per setting: unknown keys refused."""
        attributes = {
            key.replace(".", "__"): setting.field() for key, setting in self.declared.items()
        }
        return type(f"{self.service.title()}SettingsChange", (StrictSchema,), attributes)

    def check_defaults(self) -> ServiceSettings:
        """Every default readable, or ValueError naming the setting (or environment
        variable) at fault: called when the process starts, so a bad value stops it."""
        for setting in self:
            setting.default_value()
        return self

    def fixed_defaults(self) -> dict[str, str]:
        """Defaults that do not come from the environment, for `make seed` to write."""
        return {
            setting.key: setting.default
            for setting in self
            if setting.environment is None and isinstance(setting.default, str)
        }

    # --- reading ---------------------------------------------------------------------------

    def _rows(self, uow: UnitOfWork, keys: Iterable[str]) -> dict[str, Any]:
        model = uow.tables.system_setting
        rows = uow.session.scalars(
            select(model).where(model.key.in_(list(keys))).execution_options(populate_existing=True)
        )
        return {row.key: row for row in rows}

    def _effective(self, setting: Declared, row: Any) -> Value:
        if row is None:
            return setting.default_value()
        try:
            return setting.parse(row.value)
        except ValueError as exc:
            # Written by hand or by older code: the default is safer than a refusal of
            # every request that reads it. The listing shows the default as the value.
            shown = "(secret)" if setting.secret else repr(row.value)
            log.error("%s setting %s holds %s (%s); using its default", self.service,
                      setting.key, shown, exc)  # fmt: skip
            return setting.default_value()

    def value(self, uow: UnitOfWork, key: str) -> Value:
        return self.values(uow, [key])[key]

    def values(self, uow: UnitOfWork, keys: Iterable[str] | None = None) -> dict[str, Value]:
        """The current values of `keys` (all declared, by default), in one query."""
        wanted = [self.declared[key] for key in (self.declared if keys is None else keys)]
        rows = self._rows(uow, (setting.key for setting in wanted))
        return {setting.key: self._effective(setting, rows.get(setting.key)) for setting in wanted}

    def listing(self, uow: UnitOfWork) -> dict[str, Any]:
        """Staff: every setting with its value, default and when its stored value was last
        written (null: none is stored, the default applies)."""
        require_staff()
        rows = self._rows(uow, self.declared)
        items = []
        for setting in self:
            row = rows.get(setting.key)
            shown = not setting.secret
            items.append(
                setting.describe()
                | {
                    "value": self._effective(setting, row) if shown else None,
                    "default": setting.default_value() if shown else None,
                    "updated_at": row.updated_at if row is not None else None,
                }
            )
        return {"service": self.service, "settings": items}

    # --- changing --------------------------------------------------------------------------

    def validate(self, data: Any) -> dict[str, Value | None]:
        """{key: value} checked against the declaration: ValidationFailed (422) naming each
        unknown key and each value of the wrong type or out of bounds. None = reset."""
        schema = self.schema()()
        loaded = load(schema, data)
        return {schema.fields[name].data_key or name: value for name, value in loaded.items()}

    def write(self, uow: UnitOfWork, values: Mapping[str, Value | None]) -> None:
        """Store checked values (None removes the row: back to the default), one audit row
        per setting that changed, with the old and new value, in this transaction.
        Changes to one service's settings take turns (a transaction lock), so each audit
        row's old value is the one the change before it left."""
        model = uow.tables.system_setting
        table = f"{model.__table__.schema}.{model.__tablename__}"
        uow.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(table))))
        rows = self._rows(uow, values)
        for key, value in values.items():
            setting = self.declared[key]
            row = rows.get(key)
            old = self._effective(setting, row)
            if value is None:
                if row is None:
                    continue
                uow.session.execute(delete(model).where(model.key == key))
                audited = RESET
                new = setting.default_value()
            else:
                text = setting.text(value)
                if row is not None and row.value == text:
                    continue
                now = utcnow()
                uow.session.execute(
                    insert(model)
                    .values(id=cuid(), key=key, value=text, updated_at=now)
                    .on_conflict_do_update(
                        index_elements=[model.key], set_={"value": text, "updated_at": now}
                    )
                )
                audited = CHANGED
                new = value
            metadata = {"key": key} | ({} if setting.secret else {"old": old, "new": new})
            uow.audit(audited, "SystemSetting", key, metadata)

    def change(self, uow: UnitOfWork, data: Any) -> dict[str, Any]:
        """Staff: change some settings ({key: value}; null resets one to its default), all
        or none; returns the listing after the change."""
        require_staff()
        self.write(uow, self.validate(data))
        uow.session.flush()
        return self.listing(uow)


def ensure_defaults(uow: UnitOfWork, defaults: Mapping[str, str]) -> list[str]:
    """Insert settings that are missing; never overwrite one staff have changed."""
    model = uow.tables.system_setting
    added = []
    for key, value in defaults.items():
        inserted = uow.session.scalar(
            insert(model)
            .values(id=cuid(), key=key, value=value)
            .on_conflict_do_nothing(index_elements=[model.key])
            .returning(model.key)
        )
        if inserted:
            added.append(key)
    return added


def get_setting(uow: UnitOfWork, key: str, default: str) -> str:
    model = uow.tables.system_setting
    value = uow.session.scalar(select(model.value).where(model.key == key))
    return default if value is None else value


# What every service's `system_settings` RPC answers (the gateway's OpenAPI too).
class SettingSchema(Schema):
    key = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf([kind.value for kind in Kind]))
    description = fields.String(required=True)
    value = fields.Raw(
        required=True,
        allow_none=True,
        metadata={
            "oneOf": [{"type": "integer"}, {"type": "boolean"}, {"type": "string"}],
            "nullable": True,
            "description": "Of the setting's type; null for a secret setting",
        },
    )
    default = fields.Raw(
        required=True,
        allow_none=True,
        metadata={
            "oneOf": [{"type": "integer"}, {"type": "boolean"}, {"type": "string"}],
            "nullable": True,
            "description": "The value when staff have set none (from `environment` when "
            "named); null for a secret setting",
        },
    )
    environment = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The environment variable the default comes from"},
    )
    minimum = fields.Integer(required=True, allow_none=True)
    maximum = fields.Integer(required=True, allow_none=True)
    choices = fields.List(fields.String(), required=True, allow_none=True)
    pattern = fields.String(required=True, allow_none=True)
    secret = fields.Boolean(required=True)
    updated_at = fields.AwareDateTime(
        required=True,
        allow_none=True,
        metadata={
            "description": "When the stored value was last written (by staff, or by "
            "`make seed`); null: none is stored, the default applies"
        },
    )


class ServiceSettingsSchema(Schema):
    service = fields.String(required=True)
    settings = fields.List(fields.Nested(SettingSchema), required=True)


def dump(listing: Mapping[str, Any]) -> dict[str, Any]:
    """The listing as JSON-able data (times as ISO 8601)."""
    answer: dict[str, Any] = ServiceSettingsSchema().dump(listing)
    return answer
