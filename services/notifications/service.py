"""Notifications' entrypoints: one handler per event someone must hear about by email, and
staff's email log. What each email says is in `messages`; sending it once per event is in
`emails`; reading the log and resending, in `email_log`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nameko.rpc import RpcProxy, rpc

from services.billing.events import (
    BillingAccountOverdue,
    BillingAccountReactivated,
    BillingAccountSuspended,
    CreditIssued,
    InvoiceIssued,
    InvoiceVoided,
    PaymentApplied,
)
from services.identity.events import (
    EmailVerificationRequested,
    InvitationCreated,
    PasswordResetRequested,
    SignUpAttempted,
    UserRegistered,
)
from services.notifications import email_log, messages
from services.notifications.emails import Email, send_once
from services.notifications.mailer import Mailer
from services.notifications.models import tables
from services.support.events import (
    SupportDailySummary,
    TicketAssigned,
    TicketCreated,
    TicketReplied,
    TicketStatusChanged,
)
from shared.dependencies import Database
from shared.entrypoints import ServiceBase, event_handler
from shared.events import Event


class NotificationsService(ServiceBase):
    name = "notifications"
    db = Database("notifications", tables)
    mailer = Mailer()
    identity = RpcProxy("identity")
    billing = RpcProxy("billing")
    support = RpcProxy("support")

    def _send(self, event: Event, compose: Callable[[], Email | None]) -> None:
        send_once(self.db, self.mailer.send, event.event_id, compose)

    # --- staff: the email log ---------------------------------------------------------------

    @rpc
    def list_emails(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return email_log.list_emails(uow, query)

    @rpc
    def get_email(self, email_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return email_log.get_email(uow, email_id)

    @rpc
    def resend_email(self, email_id: str) -> dict[str, Any]:
        return email_log.resend_email(self.db, self.mailer.send, email_id, self._fresh_token)

    def _fresh_token(self, kind: str, ref: str) -> str | None:
        # Tokens are issued to the suite only: the staff member has been checked already.
        with self.call_context.as_system():
            return messages.fresh_token(self.identity, self.billing, kind, ref)

    # --- events -----------------------------------------------------------------------------

    @event_handler(EmailVerificationRequested)
    def resend_verification_email(self, event: EmailVerificationRequested) -> None:
        self._send(event, lambda: messages.verification_email(self.identity, event))

    @event_handler(UserRegistered)
    def send_verification_email(self, event: UserRegistered) -> None:
        self._send(event, lambda: messages.verification_email(self.identity, event))

    @event_handler(PasswordResetRequested)
    def send_password_reset_email(self, event: PasswordResetRequested) -> None:
        self._send(event, lambda: messages.password_reset_email(self.identity, event))

    @event_handler(SignUpAttempted)
    def send_sign_up_attempted_email(self, event: SignUpAttempted) -> None:
        self._send(event, lambda: messages.sign_up_attempted_email(self.identity, event))

    @event_handler(InvitationCreated)
    def send_invitation_email(self, event: InvitationCreated) -> None:
        self._send(event, lambda: messages.invitation_email(self.identity, event))

    @event_handler(InvoiceIssued)
    def send_invoice_email(self, event: InvoiceIssued) -> None:
        self._send(event, lambda: messages.invoice_email(self.identity, self.billing, event))

    @event_handler(PaymentApplied)
    def send_receipt_email(self, event: PaymentApplied) -> None:
        self._send(event, lambda: messages.receipt_email(self.identity, self.billing, event))

    @event_handler(BillingAccountOverdue)
    def send_overdue_warning(self, event: BillingAccountOverdue) -> None:
        self._send(event, lambda: messages.overdue_warning(self.identity, event))

    @event_handler(BillingAccountSuspended)
    def send_suspension_notice(self, event: BillingAccountSuspended) -> None:
        self._send(event, lambda: messages.suspension_notice(self.identity, event))

    @event_handler(BillingAccountReactivated)
    def send_reactivation_notice(self, event: BillingAccountReactivated) -> None:
        self._send(event, lambda: messages.reactivation_notice(self.identity, event))

    @event_handler(CreditIssued)
    def send_credit_email(self, event: CreditIssued) -> None:
        self._send(event, lambda: messages.credit_email(self.identity, event))

    @event_handler(InvoiceVoided)
    def send_voided_invoice_email(self, event: InvoiceVoided) -> None:
        self._send(event, lambda: messages.voided_invoice_email(self.identity, self.billing, event))

    @event_handler(TicketCreated)
    def send_new_ticket_email(self, event: TicketCreated) -> None:
        self._send(event, lambda: messages.ticket_created_email(self.identity, event))

    @event_handler(TicketReplied)
    def send_ticket_reply_email(self, event: TicketReplied) -> None:
        self._send(event, lambda: messages.ticket_reply_email(self.identity, self.support, event))

    @event_handler(TicketStatusChanged)
    def send_ticket_status_email(self, event: TicketStatusChanged) -> None:
        self._send(event, lambda: messages.ticket_status_email(self.identity, self.support, event))

    @event_handler(TicketAssigned)
    def send_ticket_assigned_email(self, event: TicketAssigned) -> None:
        self._send(event, lambda: messages.ticket_assigned_email(self.identity, event))

    @event_handler(SupportDailySummary)
    def send_support_summary_email(self, event: SupportDailySummary) -> None:
        self._send(event, lambda: messages.support_summary_email(event))
