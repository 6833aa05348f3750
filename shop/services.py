"""The shop's public service surface for other domains (orders, delivery, payments, engage, web).

Import from here rather than from the modules behind it; every function takes the caller's session and
runs in the caller's transaction.
"""

from shop.access import authorize_store, visible_store_ids
from shop.audit import Actor, record_audit
from shop.catalogue.browse import store_catalogue, store_product
from shop.catalogue.services import get_product, get_sku
from shop.customers.services import (
    customer_openid,
    find_or_create_customer,
    get_account,
    get_address,
    get_customer,
    record_referral,
    set_tags,
    upsert_default_account,
)
from shop.errors import OutOfStock, RefReused, ReservationNotFound, ReservationStateError, ReturnExceedsSold
from shop.stock.seam import (
    Reservation,
    StockLine,
    commit_stock,
    get_reservation,
    release_stock,
    reserve_stock,
    return_stock,
    transfer_reservation,
)
from shop.stores.mirror import rebuild_geo_index
from shop.stores.nearest import NearbyStore, nearest_stores
from shop.stores.services import get_store, load_schedules, stores_of_user

__all__ = [
    "Actor",
    "NearbyStore",
    "OutOfStock",
    "RefReused",
    "Reservation",
    "ReservationNotFound",
    "ReservationStateError",
    "ReturnExceedsSold",
    "StockLine",
    "authorize_store",
    "commit_stock",
    "customer_openid",
    "find_or_create_customer",
    "get_account",
    "get_address",
    "get_customer",
    "get_product",
    "get_reservation",
    "get_sku",
    "get_store",
    "load_schedules",
    "nearest_stores",
    "rebuild_geo_index",
    "record_audit",
    "record_referral",
    "release_stock",
    "reserve_stock",
    "return_stock",
    "set_tags",
    "store_catalogue",
    "store_product",
    "stores_of_user",
    "transfer_reservation",
    "upsert_default_account",
    "visible_store_ids",
]
