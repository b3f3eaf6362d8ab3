"""Every user-facing sentence of the journeys, in one place (docs/conversation-contract.md is the truth).

Journeys match these with regexes, so the quoted parts of the contract are kept word for word. Money is
whole RWF written ``3,500 RWF``. One domain emoji leads each message; 😔 apologises, ✅ confirms.
"""

from __future__ import annotations

from collections.abc import Sequence

from .orders import Line, Order


def money(amount: int) -> str:
    return f"{amount:,} RWF"


def lines_text(lines: Sequence[Line]) -> str:
    return "\n".join(
        f"• {line.quantity} × {line.name}: {money(line.quantity * line.unit_price)}" for line in lines
    )


def short_items(order: Order) -> str:
    return ", ".join(f"{line.quantity} × {line.name}" for line in order.lines)


STATE_LABELS = {
    "pending_payment": "waiting for payment",
    "paid": "paid",
    "accepted": "accepted",
    "preparing": "being prepared",
    "ready": "ready",
    "out_for_delivery": "on the way",
    "delivered": "delivered",
    "rejected": "rejected",
    "cancelled": "cancelled",
}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


# -- buyer -------------------------------------------------------------------------------------------

ASK_WHAT_TO_ORDER = (
    "🛒 What would you like to order? Type the item, how many and your area, "
    "for example: 2 jerrycans of water near Kimironko."
)
SHARE_LOCATION = "📍 Please share your delivery location: tap 📎 and choose Location."
SEARCH_UNAVAILABLE = (
    "😔 Sorry, search isn't available right now. Please try again in a few minutes, or ask us for help."
)
CURATED_NOTE = (
    "💡 Search is having trouble, so here are some example offers. Tap 🔍 Try again in a moment for offers "
    "picked for you."
)


def offers_body(quantity: int, query: str, area: str | None, note: str | None) -> str:
    body = f"🛒 Offers for {quantity} × {query}"
    if area:
        body += f"\n📍 Near {area}"
    if note:
        body += f"\n{note}"
    return body + "\nTap an offer to order it."


def no_offers(query: str) -> str:
    return f'😔 No offers for "{query}" right now.\nTry other words, or check back later.'


def asking_for_quotes(query: str) -> str:
    """No match: the buyer contract's "No offers" line, then the quote request (failure handling)."""
    return (
        f'😔 No offers for "{query}" right now.\n'
        f'📨 Asking vendors near you for quotes on "{query}": I\'ll send you their prices shortly.'
    )


def item_unavailable(name: str) -> str:
    return f"😔 {name} is no longer available."


def just_unavailable(name: str) -> str:
    return f"😔 {name} just became unavailable."


def checkout(order: Order, vendor_name: str) -> str:
    return (
        f"🧾 Order {order.id} from {vendor_name}\n{lines_text(order.lines)}\n"
        f"Delivery: {money(order.delivery_fee)}\nTotal: {money(order.total)}\nHow would you like to pay?"
    )


def ask_momo_number(amount: int) -> str:
    """A username-only user's phone is unknown to us: MoMo needs the number that pays (R-PAY-13)."""
    return f"📲 Which MoMo number should pay {money(amount)}? Please type it, e.g. 0788 123 456."


NOT_A_MOMO_NUMBER = "😔 That doesn't look like a MoMo number. Please type it like 0788 123 456."


def momo_requested(amount: int) -> str:
    return (
        f"📲 Approve the MoMo request of {money(amount)} on your phone.\n"
        "No prompt? Dial *182*7*1# to see requests waiting for you."
    )


def momo_pending(order_id: str) -> str:
    return f"📲 A MoMo request for order {order_id} is already waiting for your approval on your phone."


MOMO_UNAVAILABLE = (
    "😔 MoMo can't be reached right now. Please try again in a moment, or pay from your wallet."
)
TOPUP_UNAVAILABLE = "😔 MoMo can't be reached right now. Please try your top-up again in a moment."


# What a MoMo failure reason means for the payer (MTN's own advice per reason:
# https://momodeveloper.mtn.com/api-documentation/common-error); the raw code is never shown.
_MOMO_REASONS = {
    "APPROVAL_REJECTED": "The MoMo request was declined on your phone.",
    "EXPIRED": "The MoMo request expired before it was approved (approve it within 5 minutes).",
    "COULD_NOT_PERFORM_TRANSACTION": (
        "The MoMo request expired before it was approved (approve it within 5 minutes)."
    ),
    "NOT_ENOUGH_FUNDS": "There isn't enough money on your MoMo account.",
    "PAYER_LIMIT_REACHED": "Your MoMo transaction limit has been reached.",
    "PAYER_NOT_FOUND": "This number has no active MoMo account.",
    "SENDER_ACCOUNT_NOT_ACTIVE": "This number has no active MoMo account.",
    "INTERNAL_PROCESSING_ERROR": "MoMo couldn't complete it: please check your MoMo balance.",
}
MOMO_FAILED_OTHERWISE = "MoMo couldn't complete the payment."


def momo_reason(reason: str | None) -> str:
    """One sentence on why MoMo refused, for the payer."""
    return _MOMO_REASONS.get(reason or "", MOMO_FAILED_OTHERWISE)


def payment_failed(order_id: str, why: str = MOMO_FAILED_OTHERWISE) -> str:
    return (
        f"😔 Payment for order {order_id} didn't go through. {why}\n"
        "You can try again, or pay from your wallet."
    )


def momo_still_pending(order_id: str) -> str:
    return (
        f"⏳ Payment for order {order_id} is still pending. Approve the MoMo request on your phone "
        "(or dial *182*7*1#); we'll confirm here as soon as MoMo does."
    )


CHECKOUT_WRITE_FAILED = "😔 We couldn't confirm your order. Nothing was charged. Please try again."


def station_unreachable(vendor: str, order_id: str, refund: int, balance: int, alternatives: bool) -> str:
    tail = "\nHere are other offers:" if alternatives else ""
    return (
        f"😔 We couldn't reach {vendor} about order {order_id}, so we cancelled it.\n"
        f"We refunded {money(refund)} to your wallet. Balance: {money(balance)}{tail}"
    )


def wallet_short(balance: int, total: int) -> str:
    return (
        f"😔 Your wallet balance ({money(balance)}) is below the total ({money(total)}).\n"
        "Top up, or pay with MoMo."
    )


def receipt(order: Order) -> str:
    return (
        f"✅ Payment received for order {order.id}\nDelivery code: {order.delivery_code}\n"
        "Give this code to the driver when your order arrives."
    )


def late_payment(order_id: str, amount: int, balance: int) -> str:
    return (
        f"ℹ️ Order {order_id} was already paid, so your MoMo payment of {money(amount)} went to your wallet. "
        f"Balance: {money(balance)}"
    )


def tracking(order: Order, *, vendor: str = "", driver: str = "") -> str:
    """The buyer's update for the state the order just entered."""
    return {
        "accepted": f"✅ Order {order.id} accepted by {vendor}",
        "preparing": f"👩‍🍳 Order {order.id} is being prepared",
        "ready": f"📦 Order {order.id} is ready: we're finding a driver",
        "out_for_delivery": (
            f"🛵 {driver} is on the way with order {order.id}\n"
            f"Order {order.id} is out for delivery: have your delivery code ready."
        ),
        "delivered": f"✅ Order {order.id} delivered. Thank you for using easyMO!",
    }[order.state]


def rejected(vendor: str, order_id: str, refund: int, balance: int, alternatives: bool) -> str:
    tail = "\nHere are other offers:" if alternatives else ""
    return (
        f"😔 {vendor} can't take order {order_id}.\n"
        f"We refunded {money(refund)} to your wallet. Balance: {money(balance)}{tail}"
    )


def my_orders(orders: Sequence[Order]) -> str:
    if not orders:
        return "📦 You have no orders yet. Type what you need to start one."
    rows = [f"• {o.id}: {state_label(o.state)}, {money(o.total)} ({short_items(o)})" for o in orders]
    return "📦 Your last orders:\n" + "\n".join(rows)


def still_looking_for_driver(order_id: str) -> str:
    return f"⏳ Still looking for a driver for order {order_id}. We've asked the drivers on duty again."


def no_driver_yet(order_id: str) -> str:
    return f"⏳ No driver yet for order {order_id}. We've offered the job to the drivers on duty again."


# -- quotes ------------------------------------------------------------------------------------------


def quote_request(request_id: str, query: str, quantity: int, area: str | None) -> str:
    wanted = f"📦 {quantity} wanted" + (f", near {area}" if area else "")
    return (
        f"💬 Quote request {request_id}: {query}. Reply with the code and your price, e.g. {request_id} 4500"
        f"\n{wanted}"
    )


def quotes_list(query: str, complete: bool) -> str:
    lead = "💬 Quotes for" if complete else "💬 Quotes so far for"
    return f'{lead} "{query}"\nTap one to order it.'


NO_QUOTES = "😔 No vendor answered in time. Here are top-ranked vendors:"


def quote_sent(request_id: str, query: str, price: int) -> str:
    return f'✅ Quote sent: {money(price)} for "{query}" ({request_id}). The buyer sees it with the others.'


def quote_declined(request_id: str) -> str:
    return f"👍 Noted: no quote from you for {request_id}."


def quote_closed(request_id: str) -> str:
    return f"⌛ Quote request {request_id} has closed: the buyer already got the quotes."


def quote_unknown(request_id: str) -> str:
    return f"😔 I can't find quote request {request_id} for your shop."


def quote_price_again(request_id: str) -> str:
    return f"😔 Please send the code and your price in RWF, for example: {request_id} 4500"


# -- wallet ------------------------------------------------------------------------------------------


def wallet_balance(balance: int) -> str:
    return f"💳 Wallet balance: {money(balance)}"


TOPUP_CHOOSE = "➕ How much would you like to add to your wallet? You'll approve it with MoMo."


def topped_up(amount: int, balance: int) -> str:
    return f"✅ Wallet topped up: +{money(amount)}. Balance: {money(balance)}"


def topup_failed(amount: int, why: str = MOMO_FAILED_OTHERWISE) -> str:
    return f"😔 Your top-up of {money(amount)} didn't go through. {why} You can try again."


# -- support and admin -------------------------------------------------------------------------------

HELP = (
    "🆘 Help\n• To order, type what you need, for example: 2 jerrycans of water near Kimironko\n"
    "• Pay by MoMo or from your easyMO wallet\n• Follow your orders with 📦 My orders\n"
    "Need a person? Tap 🙋 Talk to a person."
)


def ticket(ticket_id: str | None) -> str:
    ref = f" {ticket_id}" if ticket_id else ""
    return f"🎫 Ticket{ref} created. An agent will reply within 2 hours."


ADMIN_DENIED = "⛔ Admin command denied"
RATE_LIMITED = "⏳ You're sending messages faster than we can answer. Please wait a minute, then try again."
MARKETPLACE_BODY = "🛍️ Marketplace: popular items today. Tap one to order it."
