"""The orders domain's service functions, as other domains (payments, delivery, web) call them."""

from orders.after_sales import decide_refund, request_refund
from orders.cancel_order import Cancellation, cancel_order, customer_cancel, decide_cancel_request
from orders.cart import clear_cart, get_cart, set_cart_item
from orders.checkout import CheckoutRequest
from orders.mark_paid import PaymentApplied, mark_paid
from orders.payment_terms import PaymentTerms, payment_terms
from orders.place_order import PlacedOrder, place_order
from orders.quote import Quote, quote
from orders.review_prescription import review_prescription
from orders.status import OrderState, load_state
from orders.transition_order import accept_order, transition

__all__ = [
    "Cancellation",
    "CheckoutRequest",
    "OrderState",
    "PaymentApplied",
    "PaymentTerms",
    "PlacedOrder",
    "Quote",
    "accept_order",
    "cancel_order",
    "clear_cart",
    "customer_cancel",
    "decide_cancel_request",
    "decide_refund",
    "get_cart",
    "load_state",
    "mark_paid",
    "payment_terms",
    "place_order",
    "quote",
    "request_refund",
    "review_prescription",
    "set_cart_item",
    "transition",
]
