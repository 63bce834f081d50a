"""Identity's entrypoints. Domain logic lives in the modules they call; authorization is
checked there, from the caller's context."""

from __future__ import annotations

from typing import Any

from nameko.rpc import rpc

from services.identity import (
    api_keys,
    directory,
    members,
    organizations,
    sessions,
    settings,
    staff,
    users,
)
from services.identity.events import ApiKeysUsed
from services.identity.models import tables
from shared.dependencies import Database
from shared.entrypoints import ServiceBase, event_handler


class IdentityService(ServiceBase):
    name = "identity"
    db = Database("identity", tables)
    declared_settings = settings.DECLARED

    # People and sessions

    @rpc
    def sign_up(self, data: dict[str, Any]) -> None:
        with self.db.transaction() as uow:
            users.sign_up(uow, data)

    @rpc
    def verify_email(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return users.verify_email(uow, data)

    @rpc
    def request_verification_email(self, data: dict[str, Any]) -> None:
        with self.db.transaction() as uow:
            users.request_verification_email(uow, data)

    @rpc
    def sign_in(self, data: dict[str, Any]) -> dict[str, Any]:
        # The attempt is counted and committed before the (slow) password check.
        with self.db.transaction() as uow:
            attempt = sessions.begin_sign_in(uow, data)
        with self.db.transaction() as uow:
            outcome = sessions.finish_sign_in(uow, attempt)
        return outcome.result()

    @rpc
    def authenticate_session(self, token: str, organization_id: str | None = None) -> dict:
        with self.db.transaction() as uow:
            return sessions.authenticate_session(uow, token, organization_id)

    @rpc
    def sign_out(self) -> None:
        with self.db.transaction() as uow:
            sessions.sign_out(uow)

    @rpc
    def sign_out_everywhere(self) -> int:
        with self.db.transaction() as uow:
            return sessions.sign_out_everywhere(uow)

    @rpc
    def list_sessions(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return sessions.list_sessions(uow, query)

    @rpc
    def change_password(self, data: dict[str, Any]) -> None:
        with self.db.transaction() as uow:
            users.change_password(uow, data)

    @rpc
    def request_password_reset(self, data: dict[str, Any]) -> None:
        with self.db.transaction() as uow:
            users.request_password_reset(uow, data)

    @rpc
    def reset_password(self, data: dict[str, Any]) -> None:
        with self.db.transaction() as uow:
            users.reset_password(uow, data)

    @rpc
    def get_me(self) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return users.get_me(uow)

    @rpc
    def update_me(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return users.update_me(uow, data)

    @rpc
    def contact_addresses(self, user_ids: list[str]) -> list[dict[str, Any]]:
        with self.db.transaction() as uow:
            return users.contact_addresses(uow, user_ids)

    @rpc
    def issue_email_token(self, user_id: str, purpose: str) -> dict[str, Any] | None:
        with self.db.transaction() as uow:
            return users.issue_token(uow, user_id, purpose)

    # Organizations and members

    @rpc
    def create_organization(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return organizations.create_organization(uow, data)

    @rpc
    def get_organization(self, organization_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return organizations.get_organization(uow, organization_id)

    @rpc
    def update_organization(self, organization_id: str, data: dict[str, Any]) -> dict:
        with self.db.transaction() as uow:
            return organizations.update_organization(uow, organization_id, data)

    @rpc
    def delete_organization(self, organization_id: str) -> None:
        with self.db.transaction() as uow:
            organizations.delete_organization(uow, organization_id)

    @rpc
    def list_members(self, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return members.list_members(uow, organization_id, query)

    @rpc
    def change_member_role(self, organization_id: str, member_id: str, data: dict) -> dict:
        with self.db.transaction() as uow:
            return members.change_role(uow, organization_id, member_id, data)

    @rpc
    def remove_member(self, organization_id: str, member_id: str) -> None:
        with self.db.transaction() as uow:
            members.remove_member(uow, organization_id, member_id)

    @rpc
    def transfer_ownership(self, organization_id: str, data: dict[str, Any]) -> dict:
        with self.db.transaction() as uow:
            return members.transfer_ownership(uow, organization_id, data)

    @rpc
    def invite_member(self, organization_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return members.invite(uow, organization_id, data)

    @rpc
    def list_invitations(self, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return members.list_invitations(uow, organization_id, query)

    @rpc
    def revoke_invitation(self, organization_id: str, invitation_id: str) -> None:
        with self.db.transaction() as uow:
            members.revoke_invitation(uow, organization_id, invitation_id)

    @rpc
    def accept_invitation(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return members.accept_invitation(uow, data)

    @rpc
    def issue_invitation_token(self, invitation_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as uow:
            return members.issue_invitation_token(uow, invitation_id)

    @rpc
    def billing_contacts(self, organization_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return members.billing_contacts(uow, organization_id)

    # API keys

    @rpc
    def create_api_key(self, organization_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return api_keys.create_api_key(uow, organization_id, data)

    @rpc
    def list_api_keys(self, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return api_keys.list_api_keys(uow, organization_id, query)

    @rpc
    def revoke_api_key(self, organization_id: str, api_key_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return api_keys.revoke_api_key(uow, organization_id, api_key_id)

    @rpc
    def resolve_api_key(self, key_hash: str) -> dict[str, Any] | None:
        with self.db.transaction() as uow:
            return api_keys.resolve_api_key(uow, key_hash)

    @event_handler(ApiKeysUsed)
    def record_api_key_usage(self, event: ApiKeysUsed) -> None:
        with self.db.transaction() as uow:
            api_keys.record_usage(uow, event.last_used)

    # Staff

    @rpc
    def list_all_organizations(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return directory.list_organizations(uow, query)

    @rpc
    def list_all_users(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return directory.list_users(uow, query)

    @rpc
    def staff_user(self, user_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return staff.staff_user(uow, user_id)

    @rpc
    def disable_user(self, user_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return staff.disable_user(uow, user_id)

    @rpc
    def enable_user(self, user_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return staff.enable_user(uow, user_id)
