"""People: sign-up, email verification, sign-in and its cookies, sessions, passwords."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from gateway.access import PUBLIC, SIGNED_IN
from gateway.auth import CSRF_COOKIE, SESSION_COOKIE
from gateway.http import json_response
from gateway.routing import Gateway, RouteTable
from gateway.schemas import StatusSchema
from services.identity import schemas as identity
from shared.rpc import call
from shared.schemas import PageQuerySchema

# OWASP's device cookie (services/identity/devices.py): sent back only when signing in.
DEVICE_COOKIE = "cvt_device"
DEVICE_COOKIE_PATH = "/v1/auth/sign-in"

routes = RouteTable("authentication")


def _with_session_cookies(body: dict[str, Any]) -> Response:
    response = json_response(200, body)
    expires = datetime.fromisoformat(body["expires_at"])
    for name, value, httponly in (
        (SESSION_COOKIE, body["token"], True),
        # Readable by the page's script, which echoes it in X-CSRF-Token.
        (CSRF_COOKIE, body["csrf_token"], False),
    ):
        response.set_cookie(
            name, value, expires=expires, httponly=httponly, secure=True, samesite="Lax", path="/"
        )
    response.set_cookie(
        DEVICE_COOKIE,
        body["device_token"],
        expires=datetime.fromisoformat(body["device_expires_at"]),
        httponly=True,
        secure=True,
        samesite="Lax",
        path=DEVICE_COOKIE_PATH,
    )
    return response


def _with_device_token(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """The sign-in body, with the browser's device cookie unless the body names a device
    itself. A cookie that cannot be a device token is ignored: the client is simply not
    recognised, as if it had none."""
    cookie = request.cookies.get(DEVICE_COOKIE, "")
    if "device_token" in body or not re.fullmatch(identity.DEVICE_TOKEN_PATTERN, cookie):
        return body
    return {**body, "device_token": cookie}


def _without_session_cookies(body: dict[str, Any]) -> Response:
    response = json_response(200, body)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=True, samesite="Lax")
    return response


@routes.add(
    "POST",
    "/v1/auth/sign-up",
    summary="Create an account; a verification email follows (same answer for taken "
    "addresses, whose owner is told instead)",
    access=PUBLIC,
    request=identity.SignUpSchema,
    response=StatusSchema,
    status=202,
    errors=[429],
)
def sign_up(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict[str, str]:
    call(gateway.identity.sign_up, body)
    return {"status": "check your email to continue"}


@routes.add(
    "POST",
    "/v1/auth/verify-email",
    summary="Confirm an email address with its token",
    access=PUBLIC,
    request=identity.TokenSchema,
    response=identity.UserSchema,
)
def verify_email(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return call(gateway.identity.verify_email, body)


@routes.add(
    "POST",
    "/v1/auth/verify-email/resend",
    summary="Email another verification link (same answer for unknown addresses)",
    access=PUBLIC,
    request=identity.EmailSchema,
    response=StatusSchema,
    status=202,
    errors=[429],
)
def resend_verification(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict:
    call(gateway.identity.request_verification_email, body)
    return {"status": "if the address has an unverified account, a link is on its way"}


@routes.add(
    "POST",
    "/v1/auth/sign-in",
    summary="Sign in: a Bearer token and a device token; for browsers HttpOnly session, "
    "CSRF and device cookies",
    access=PUBLIC,
    request=identity.SignInSchema,
    response=identity.SignedInSchema,
    errors=[401, 403, 429],
)
def sign_in(gateway: Gateway, request: Request, body: dict[str, Any]) -> Response:
    signed_in = call(gateway.identity.sign_in, _with_device_token(request, body))
    return _with_session_cookies(signed_in)


@routes.add(
    "POST",
    "/v1/auth/sign-out",
    summary="End this session",
    access=SIGNED_IN,
    response=StatusSchema,
)
def sign_out(gateway: Gateway, request: Request) -> Response:
    call(gateway.identity.sign_out)
    return _without_session_cookies({"status": "signed out"})


@routes.add(
    "POST",
    "/v1/auth/sign-out-everywhere",
    summary="End every session of yours",
    access=SIGNED_IN,
    response=StatusSchema,
)
def sign_out_everywhere(gateway: Gateway, request: Request) -> Response:
    ended = call(gateway.identity.sign_out_everywhere)
    return _without_session_cookies({"status": f"{ended} session(s) ended"})


@routes.add(
    "GET",
    "/v1/auth/sessions",
    summary="Your sessions, newest first",
    access=SIGNED_IN,
    query=PageQuerySchema,
    response=identity.SessionPageSchema,
)
def list_sessions(gateway: Gateway, request: Request, query: dict[str, str]) -> dict[str, Any]:
    return call(gateway.identity.list_sessions, query)


@routes.add(
    "POST",
    "/v1/auth/password",
    summary="Change your password (ends your other sessions)",
    access=SIGNED_IN,
    request=identity.PasswordChangeSchema,
    response=StatusSchema,
)
def change_password(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict[str, str]:
    call(gateway.identity.change_password, body)
    return {"status": "password changed"}


@routes.add(
    "POST",
    "/v1/auth/password-reset/request",
    summary="Email a password-reset link (same answer for unknown addresses)",
    access=PUBLIC,
    request=identity.EmailSchema,
    response=StatusSchema,
    status=202,
    errors=[429],
)
def request_password_reset(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict:
    call(gateway.identity.request_password_reset, body)
    return {"status": "if the address has an account, a reset link is on its way"}


@routes.add(
    "POST",
    "/v1/auth/password-reset/confirm",
    summary="Set a new password with the emailed token (ends every session)",
    access=PUBLIC,
    request=identity.PasswordResetSchema,
    response=StatusSchema,
)
def reset_password(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict[str, str]:
    call(gateway.identity.reset_password, body)
    return {"status": "password changed"}


@routes.add(
    "GET",
    "/v1/me",
    summary="You, and your organizations with your role in each",
    access=SIGNED_IN,
    response=identity.MeSchema,
    errors=[404],
)
def me(gateway: Gateway, request: Request) -> dict[str, Any]:
    return call(gateway.identity.get_me)


@routes.add(
    "PATCH",
    "/v1/me",
    summary="Change your name or image (an https URL; null clears either)",
    access=SIGNED_IN,
    request=identity.UserUpdateSchema,
    response=identity.MeSchema,
    errors=[404],
)
def update_me(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return call(gateway.identity.update_me, body)
