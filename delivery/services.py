"""The delivery domain's service functions, as other domains (web, engage) and the CLI call them."""

from delivery.advance_stage import assign_courier, move_stage
from delivery.candidates import Candidate, Decision, find_candidates, hq_option
from delivery.claim_offer import ClaimResult, claim_for_store, claim_offer
from delivery.decline_offer import DeclineResult, decline_offer
from delivery.deliver_order import HandoffResult, deliver_with_code
from delivery.feasibility import UrgentPromise, can_serve_urgent
from delivery.queries import customer_view, deliveries_of_stores, offers_of_stores, timeline
from delivery.see_offer import see_offer
from delivery.start_dispatch import open_dispatch, start_dispatch
from delivery.toggle_busy import BusyState, busy_state, set_busy
from delivery.watch_sla import check_sla

__all__ = [
    "BusyState",
    "Candidate",
    "ClaimResult",
    "Decision",
    "DeclineResult",
    "HandoffResult",
    "UrgentPromise",
    "assign_courier",
    "busy_state",
    "can_serve_urgent",
    "check_sla",
    "claim_for_store",
    "claim_offer",
    "customer_view",
    "decline_offer",
    "deliver_with_code",
    "deliveries_of_stores",
    "find_candidates",
    "hq_option",
    "move_stage",
    "offers_of_stores",
    "open_dispatch",
    "see_offer",
    "set_busy",
    "start_dispatch",
    "timeline",
]
