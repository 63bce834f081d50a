"""Identity's input and output shapes (used by the service and by the gateway's OpenAPI)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.authorization import API_KEY_SCOPES, MemberRole
from shared.pagination import PageSchema
from shared.schemas import PageQuerySchema, StrictSchema

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
PASSWORD = validate.Length(min=10, max=256, error="between 10 and 256 characters")
ROLES = [role.value for role in MemberRole]
ROLE = validate.OneOf(ROLES)
DEVICE_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"


class OrganizationCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    slug = fields.String(
        validate=validate.Regexp(SLUG_PATTERN, error="lowercase letters, digits and dashes"),
        metadata={"description": "URL name; derived from the name when omitted"},
    )
    email = fields.Email(required=True, metadata={"description": "Primary contact email"})
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    city = fields.String(allow_none=True, validate=validate.Length(max=100))
    country = fields.String(validate=validate.Length(min=1, max=100))


class OrganizationUpdateSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    email = fields.Email()
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    city = fields.String(allow_none=True, validate=validate.Length(max=100))
    country = fields.String(validate=validate.Length(min=1, max=100))


class OrganizationSchema(Schema):
    id = fields.String()
    name = fields.String()
    slug = fields.String()
    email = fields.String()
    phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    country = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class MyOrganizationSchema(OrganizationSchema):
    role = fields.String(metadata={"description": "Your role in it", "enum": ROLES})


class SignUpSchema(StrictSchema):
    email = fields.Email(required=True)
    password = fields.String(required=True, validate=PASSWORD, load_only=True)
    name = fields.String(validate=validate.Length(min=1, max=200))


class SignInSchema(StrictSchema):
    email = fields.Email(required=True)
    password = fields.String(required=True, validate=validate.Length(max=256), load_only=True)
    device_token = fields.String(
        validate=validate.Regexp(DEVICE_TOKEN_PATTERN, error="not a device token"),
        load_only=True,
        metadata={
            "description": "From your last sign-in's answer, for clients without cookies "
            "(browsers send the `cvt_device` cookie instead): this client is then limited "
            "per device, not per address and per email"
        },
    )


class TokenSchema(StrictSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class EmailSchema(StrictSchema):
    email = fields.Email(required=True)


class PasswordResetSchema(StrictSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, validate=PASSWORD, load_only=True)


class PasswordChangeSchema(StrictSchema):
    current_password = fields.String(
        required=True, validate=validate.Length(max=256), load_only=True
    )
    new_password = fields.String(required=True, validate=PASSWORD, load_only=True)


class UserSchema(Schema):
    id = fields.String()
    email = fields.String()
    name = fields.String(allow_none=True)
    email_verified = fields.AwareDateTime(allow_none=True)
    is_admin = fields.Boolean(metadata={"description": "CVT staff"})
    created_at = fields.AwareDateTime()


class MeSchema(UserSchema):
    organizations = fields.List(fields.Nested(MyOrganizationSchema))


class SignedInSchema(Schema):
    token = fields.String(metadata={"description": "Send as `Authorization: Bearer <token>`"})
    expires_at = fields.AwareDateTime()
    csrf_token = fields.String(
        metadata={"description": "Send as X-CSRF-Token on writes authenticated by the cookie"}
    )
    device_token = fields.String(
        metadata={
            "description": "This client's device token (also the `cvt_device` cookie): send it "
            "with your next sign-in; it replaces the one you sent"
        }
    )
    device_expires_at = fields.AwareDateTime()
    user = fields.Nested(UserSchema)


class SessionSchema(Schema):
    id = fields.String()
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()
    ip_address = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    current = fields.Boolean(metadata={"description": "The session of this request"})


class SessionPageSchema(PageSchema):
    items = fields.List(fields.Nested(SessionSchema), required=True)


class MemberSchema(Schema):
    id = fields.String()
    user_id = fields.String()
    email = fields.String()
    name = fields.String(allow_none=True)
    role = fields.String(metadata={"enum": ROLES})
    created_at = fields.AwareDateTime()


class MemberPageSchema(PageSchema):
    items = fields.List(fields.Nested(MemberSchema), required=True)


class RoleChangeSchema(StrictSchema):
    role = fields.String(required=True, validate=ROLE)


class OwnershipTransferSchema(StrictSchema):
    member_id = fields.String(required=True, metadata={"description": "The new OWNER"})


class InvitationCreateSchema(StrictSchema):
    email = fields.Email(required=True)
    role = fields.String(load_default=MemberRole.MEMBER.value, validate=ROLE)


class InvitationSchema(Schema):
    id = fields.String()
    organization_id = fields.String()
    email = fields.String()
    role = fields.String(metadata={"enum": ROLES})
    expires_at = fields.AwareDateTime()
    accepted_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


class InvitationPageSchema(PageSchema):
    items = fields.List(fields.Nested(InvitationSchema), required=True)


class ApiKeyCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(sorted(API_KEY_SCOPES))),
        required=True,
        validate=validate.Length(min=1),
    )
    expires_at = fields.AwareDateTime(allow_none=True)
    rate_limit = fields.Integer(
        validate=validate.Range(min=1, max=1_000_000),
        metadata={"description": "Requests per hour (default 1000)"},
    )


class ApiKeySchema(Schema):
    id = fields.String()
    name = fields.String()
    key_prefix = fields.String()
    scopes = fields.List(fields.String())
    is_active = fields.Boolean()
    rate_limit = fields.Integer()
    expires_at = fields.AwareDateTime(allow_none=True)
    last_used_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


class ApiKeyPageSchema(PageSchema):
    items = fields.List(fields.Nested(ApiKeySchema), required=True)


class CreatedApiKeySchema(ApiKeySchema):
    key = fields.String(metadata={"description": "The whole key, shown this once only"})


class TerminalIdentitySchema(Schema):
    organization_id = fields.String()
    api_key_id = fields.String()
    scopes = fields.List(fields.String())


class DirectoryQuerySchema(PageQuerySchema):
    q = fields.String(
        validate=validate.Length(max=200), metadata={"description": "Search by name or email"}
    )


class OrganizationPageSchema(PageSchema):
    items = fields.List(fields.Nested(OrganizationSchema), required=True)


class UserPageSchema(PageSchema):
    items = fields.List(fields.Nested(UserSchema), required=True)
