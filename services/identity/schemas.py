"""Identity's input and output shapes (used by the service and by the gateway's OpenAPI)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.authorization import API_KEY_SCOPES, MemberRole
from shared.db import CUID_LENGTH
from shared.pagination import PageSchema
from shared.schemas import MAX_IDS_PER_CALL, BoundedDateTime, PageQuerySchema, StrictSchema

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
PASSWORD = validate.Length(min=10, max=256, error="between 10 and 256 characters")
ROLES = [role.value for role in MemberRole]
ROLE = validate.OneOf(ROLES)
DEVICE_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"
SCOPES = sorted(API_KEY_SCOPES)
MAX_IMAGE_URL = 2048


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
    id = fields.String(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)
    email = fields.String(required=True)
    phone = fields.String(required=True, allow_none=True)
    address = fields.String(required=True, allow_none=True)
    city = fields.String(required=True, allow_none=True)
    country = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class MyOrganizationSchema(OrganizationSchema):
    role = fields.String(required=True, metadata={"description": "Your role in it", "enum": ROLES})


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
    id = fields.String(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    image = fields.String(required=True, allow_none=True, metadata={"description": "https URL"})
    email_verified = fields.AwareDateTime(
        required=True, allow_none=True, metadata={"description": "When; null until verified"}
    )
    is_admin = fields.Boolean(required=True, metadata={"description": "CVT staff"})
    disabled_at = fields.AwareDateTime(
        required=True,
        allow_none=True,
        metadata={"description": "When staff disabled the account; null while it may sign in"},
    )
    created_at = fields.AwareDateTime(required=True)


class UserUpdateSchema(StrictSchema):
    name = fields.String(allow_none=True, validate=validate.Length(min=1, max=200))
    image = fields.Url(
        allow_none=True,
        schemes={"https"},
        validate=validate.Length(max=MAX_IMAGE_URL),
        error_messages={"invalid": "not an https URL"},
        metadata={"description": f"An https URL of at most {MAX_IMAGE_URL} characters, or null"},
    )


class ContactSchema(Schema):
    """Whom to write to: a user's address and name, nothing more."""

    id = fields.String(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)


class ContactLookupSchema(StrictSchema):
    user_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=CUID_LENGTH)),
        required=True,
        validate=validate.Length(max=MAX_IDS_PER_CALL),
    )


class ContactPersonSchema(Schema):
    email = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    role = fields.String(required=True, metadata={"enum": ROLES})


class ContactOrganizationSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)


class BillingContactsSchema(Schema):
    """Who gets an organization's billing mail: its address, and its OWNER and BILLING
    members."""

    organization = fields.Nested(ContactOrganizationSchema, required=True)
    people = fields.List(fields.Nested(ContactPersonSchema), required=True)


class MeSchema(UserSchema):
    organizations = fields.List(fields.Nested(MyOrganizationSchema), required=True)


class SignedInSchema(Schema):
    token = fields.String(
        required=True, metadata={"description": "Send as `Authorization: Bearer <token>`"}
    )
    expires_at = fields.AwareDateTime(required=True)
    csrf_token = fields.String(
        required=True,
        metadata={"description": "Send as X-CSRF-Token on writes authenticated by the cookie"},
    )
    device_token = fields.String(
        required=True,
        metadata={
            "description": "This client's device token (also the `cvt_device` cookie): send it "
            "with your next sign-in; it replaces the one you sent"
        },
    )
    device_expires_at = fields.AwareDateTime(required=True)
    user = fields.Nested(UserSchema, required=True)


class SessionSchema(Schema):
    id = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    expires_at = fields.AwareDateTime(required=True)
    ip_address = fields.String(required=True, allow_none=True)
    user_agent = fields.String(required=True, allow_none=True)
    current = fields.Boolean(required=True, metadata={"description": "The session of this request"})


class SessionPageSchema(PageSchema):
    items = fields.List(fields.Nested(SessionSchema), required=True)


class MemberSchema(Schema):
    id = fields.String(required=True)
    user_id = fields.String(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    role = fields.String(required=True, metadata={"enum": ROLES})
    created_at = fields.AwareDateTime(required=True)


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
    id = fields.String(required=True)
    organization_id = fields.String(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": ROLES})
    expires_at = fields.AwareDateTime(required=True)
    accepted_at = fields.AwareDateTime(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)


class InvitationPageSchema(PageSchema):
    items = fields.List(fields.Nested(InvitationSchema), required=True)


class ApiKeyCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)),
        required=True,
        validate=validate.Length(min=1),
    )
    expires_at = BoundedDateTime(allow_none=True)
    rate_limit = fields.Integer(
        validate=validate.Range(min=1, max=1_000_000),
        metadata={"description": "Requests per hour (default 1000)"},
    )


class ApiKeySchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    key_prefix = fields.String(required=True)
    scopes = fields.List(fields.String(metadata={"enum": SCOPES}), required=True)
    is_active = fields.Boolean(required=True)
    rate_limit = fields.Integer(required=True, metadata={"description": "Requests per hour"})
    expires_at = fields.AwareDateTime(required=True, allow_none=True)
    last_used_at = fields.AwareDateTime(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)


class ApiKeyPageSchema(PageSchema):
    items = fields.List(fields.Nested(ApiKeySchema), required=True)


class CreatedApiKeySchema(ApiKeySchema):
    key = fields.String(
        required=True, metadata={"description": "The whole key, shown this once only"}
    )


class TerminalIdentitySchema(Schema):
    organization_id = fields.String(required=True)
    api_key_id = fields.String(required=True)
    scopes = fields.List(fields.String(metadata={"enum": SCOPES}), required=True)


class DirectoryQuerySchema(PageQuerySchema):
    q = fields.String(
        validate=validate.Length(max=200), metadata={"description": "Search by name or email"}
    )


class OrganizationPageSchema(PageSchema):
    items = fields.List(fields.Nested(OrganizationSchema), required=True)


class UserPageSchema(PageSchema):
    items = fields.List(fields.Nested(UserSchema), required=True)
