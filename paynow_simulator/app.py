"""The simulator over HTTP: Paynow's merchant protocol at Paynow's paths, the approval
page at browserurl, and the simulator's own control API under /_simulator/ for tests."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from paynow_simulator import approval_page, faults, protocol
from paynow_simulator.faults import FaultSwitches
from paynow_simulator.initiation import Refused, read_express, read_web
from paynow_simulator.journal import Journal
from paynow_simulator.merchants import Merchant
from paynow_simulator.status_posts import RETRY_PAUSE_SECONDS, StatusPost, StatusPoster
from paynow_simulator.transactions import Ledger, NotAllowed, Transaction, timer_schedule

CHANGES = {"dispute": protocol.DISPUTED, "refund": protocol.REFUNDED}
log = logging.getLogger(__name__)

# Matched against the lowercased path: Paynow's paths are case-insensitive (IIS).
URLS = Map(
    [
        Rule(protocol.INITIATE_PATH, endpoint="initiate_web", methods=["POST"]),
        Rule(protocol.REMOTE_PATH, endpoint="initiate_express", methods=["POST"]),
        Rule(protocol.POLL_PATH.lower(), endpoint="poll", methods=["GET", "POST"]),
        Rule(f"{protocol.CONFIRM_PATH.lower()}<guid>", endpoint="confirm", methods=["GET", "POST"]),
        Rule("/_simulator/transactions", endpoint="transactions", methods=["GET"]),
        Rule(
            "/_simulator/transactions/<paynow_reference>/<any(dispute,refund):change>",
            endpoint="change",
            methods=["POST"],
        ),
        Rule("/_simulator/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]),
    ]
)


def wire(message: protocol.Message) -> Response:
    return Response(protocol.encode(message), content_type="text/plain; charset=utf-8")


def as_json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def transaction_view(transaction: Transaction, posts: Iterable[StatusPost]) -> dict[str, object]:
    initiation = transaction.initiation
    return {
        "paynowreference": transaction.paynow_reference,
        "reference": initiation.reference,
        "integration_id": transaction.merchant.integration_id,
        "method": initiation.method or "web",
        "phone": initiation.phone,
        "amount": f"{initiation.amount:.2f}",
        "status": transaction.status,
        "history": [{"status": s, "at": at.isoformat()} for s, at in transaction.history],
        "pollurl": transaction.poll_url,
        "browserurl": transaction.browser_url,
        "resulturl": initiation.resulturl,
        "returnurl": initiation.returnurl,
        "authemail": initiation.authemail,
        "additionalinfo": initiation.additionalinfo,
        "authorizationcode": transaction.authorization_code,
        "status_posts": [post.as_json() for post in posts],
    }


class Simulator:
    def __init__(
        self,
        merchants: dict[str, Merchant],
        ledger: Ledger,
        poster: StatusPoster,
        switches: FaultSwitches,
        browser_base_url: str = "",
    ) -> None:
        self.merchants = merchants
        self.ledger = ledger
        self.poster = poster
        self.switches = switches
        self.browser_base_url = browser_base_url.rstrip("/")

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = URLS.bind_to_environ(environ).match(
                path_info=request.path.lower(), method=request.method
            )
            response = getattr(self, endpoint)(request, **args)
        except HTTPException as exc:
            response = exc.get_response()
        return response(environ, start_response)

    # --- Paynow's merchant protocol -------------------------------------------------------

    def initiate_web(self, request: Request) -> Response:
        return self._initiate(request, express=False)

    def initiate_express(self, request: Request) -> Response:
        return self._initiate(request, express=True)

    def _initiate(self, request: Request, express: bool) -> Response:
        self._answer_slowly()
        message = protocol.parse(request.get_data(as_text=True))
        values = protocol.fields(message)
        merchant = self.merchants.get(values.get("id", "").strip())
        if merchant is None:
            return wire(protocol.error_reply("Invalid Id."))
        if not protocol.is_signed_by(message, merchant.integration_key):
            return wire(protocol.error_reply("Invalid Hash."))
        base_url = request.host_url.rstrip("/")
        try:
            if express:
                initiation, outcome = read_express(values)
                transaction = self.ledger.open_express(merchant, initiation, outcome, base_url)
            else:
                transaction = self.ledger.open_web(
                    merchant, read_web(values), base_url, self.browser_base_url or base_url
                )
        except Refused as refused:
            return wire(protocol.error_reply(str(refused)))
        return self._signed(transaction.initiation_reply(), transaction)

    def poll(self, request: Request) -> Response:
        """An empty POST to the pollurl: the status message, signed."""
        self._answer_slowly()
        transaction = self.ledger.by_guid(request.args.get("guid", "").lower())
        if transaction is None:
            return wire(protocol.error_reply("Transaction not found"))
        return self._signed(transaction.status_message(), transaction)

    def _signed(self, message: protocol.Message, transaction: Transaction) -> Response:
        key = transaction.merchant.integration_key
        return wire(faults.sign(message, key, spoiled=self.switches.current.bad_hash_replies))

    def _answer_slowly(self) -> None:
        if (seconds := self.switches.current.slow_seconds) > 0:
            time.sleep(seconds)

    # --- the approval page ----------------------------------------------------------------

    def confirm(self, request: Request, guid: str) -> Response:
        transaction = self.ledger.by_guid(guid)
        if transaction is None or transaction.initiation.method:
            raise NotFound("no web checkout here")
        if request.method == "POST":
            status = approval_page.DECISIONS.get(request.form.get("decision", ""))
            if status is None:
                return Response("decision must be pay or cancel", status=400)
            try:
                self.ledger.move(transaction.paynow_reference, status)
            except NotAllowed:
                pass  # decided already (a second click): the page says how
            else:
                # As Paynow does once the customer is done: back to the merchant.
                return Response(status=303, headers={"Location": transaction.initiation.returnurl})
        return Response(
            approval_page.render(transaction),
            mimetype="text/html",
            headers={
                "Content-Security-Policy": approval_page.CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            },
        )

    # --- the control API for tests --------------------------------------------------------

    def transactions(self, request: Request) -> Response:
        """Every transaction (or those with ?reference=), with what became of its posts."""
        wanted = request.args.get("reference")
        return as_json(
            [
                transaction_view(t, self.poster.records.get(t.paynow_reference, []))
                for t in self.ledger.all()
                if wanted is None or t.initiation.reference == wanted
            ]
        )

    def change(self, request: Request, paynow_reference: str, change: str) -> Response:
        """Dispute or refund a paid transaction now; the new status is posted."""
        try:
            transaction = self.ledger.move(paynow_reference, CHANGES[change])
        except LookupError as exc:
            return as_json({"error": str(exc)}, 404)
        except NotAllowed as exc:
            return as_json({"error": str(exc)}, 409)
        return as_json(transaction_view(transaction, self.poster.records.get(paynow_reference, [])))

    def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            return as_json(asdict(self.switches.reset()))
        if request.method == "POST":
            try:
                self.switches.update(request.get_json(silent=True))
            except ValueError as exc:
                return as_json({"error": str(exc)}, 400)
        return as_json(asdict(self.switches.current))


def build_app(
    merchants: dict[str, Merchant],
    delay_scale: float,
    browser_base_url: str = "",
    journal: Journal | None = None,
) -> Simulator:
    """The simulator; with a `journal`, the transactions it recorded come back first."""
    switches = FaultSwitches()
    poster = StatusPoster(switches, retry_pause=RETRY_PAUSE_SECONDS * delay_scale)
    ledger = Ledger(timer_schedule, poster.announce, delay_scale, journal)
    if journal is not None:
        restored = ledger.restore(journal.read(merchants))
        log.info("%d transaction(s) restored from %s", restored, journal.path)
    return Simulator(merchants, ledger, poster, switches, browser_base_url)
