"""Every service's settings (its SystemSetting table, as the service declares them), for
staff: all of them at once, one service's, and changing some of one service's."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from marshmallow import INCLUDE, Schema, fields
from werkzeug.wrappers import Request

from gateway.access import STAFF
from gateway.fan_out import ask_every_service
from gateway.routing import STAFF_TAGS, Gateway, RouteTable
from shared import config
from shared.rpc import call
from shared.settings import ServiceSettingsSchema

routes = RouteTable(*STAFF_TAGS)

# `service` is one of the suite's services; any other word is not routed (404).
SERVICE_SETTINGS = f"/v1/admin/settings/<any({', '.join(config.SERVICES)}):service>"


class SettingsChangeSchema(Schema):
    """{key: value}: the service that owns the settings checks them against its
    declaration (the gateway does not know them; deploying a service with a new setting
    needs no new gateway)."""

    class Meta:
        unknown = INCLUDE


class AllSettingsSchema(Schema):
    services = fields.List(
        fields.Nested(ServiceSettingsSchema),
        required=True,
        metadata={"description": "Every service, in the suite's order, with its settings"},
    )


def every_service_settings(methods: Mapping[str, Any]) -> dict[str, Any]:
    """Each service's `system_settings` answer (`methods` maps its name to the RPC
    method), asked at once; 503 naming any service that does not answer (a list with a
    service missing would read as that service having none)."""
    answers = ask_every_service(
        {name: partial(call, method) for name, method in methods.items()},
        "settings are incomplete",
    )
    return {"services": list(answers.values())}


@routes.add(
    "GET",
    "/v1/admin/settings",
    summary="Every service's settings: value, type, bounds, default (and the environment "
    "variable it comes from), description, when its value was last written (503 naming any "
    "service that did not answer)",
    access=STAFF,
    response=AllSettingsSchema,
)
def all_settings(gateway: Gateway, request: Request) -> dict[str, Any]:
    methods = {name: getattr(gateway, name).system_settings for name in config.SERVICES}
    return every_service_settings(methods)


@routes.add(
    "GET",
    SERVICE_SETTINGS,
    summary="One service's settings",
    access=STAFF,
    response=ServiceSettingsSchema,
)
def service_settings(gateway: Gateway, request: Request, service: str) -> dict[str, Any]:
    answer: dict[str, Any] = call(getattr(gateway, service).system_settings)
    return answer


@routes.add(
    "PATCH",
    SERVICE_SETTINGS,
    summary="Change some of one service's settings, all or none ({key: value}; null puts "
    "one back to its default); each change audited with its old and new value",
    access=STAFF,
    request=SettingsChangeSchema,
    response=ServiceSettingsSchema,
)
def change_service_settings(
    gateway: Gateway, request: Request, service: str, body: dict[str, Any]
) -> dict[str, Any]:
    answer: dict[str, Any] = call(getattr(gateway, service).change_system_settings, body)
    return answer
