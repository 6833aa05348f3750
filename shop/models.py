"""Every shop table, imported in one place so the mappers and the metadata know them all."""

import shop.members.models  # noqa: F401 - member tables (their names are listed in shop.members.models)
from shop.audit import AuditEntry
from shop.catalogue.models import Category, Product, Sku, StoreListing
from shop.coupons.models import CouponTemplate, CustomerCoupon
from shop.customers.models import Customer, CustomerAddress, OfficialAccount
from shop.stock.models import StockLevel, StockMovement, StockReservation, StockReservationLine
from shop.stores.models import Store, StoreHours, StoreHoursException, StoreStaff

__all__ = [
    "AuditEntry",
    "Category",
    "CouponTemplate",
    "Customer",
    "CustomerAddress",
    "CustomerCoupon",
    "OfficialAccount",
    "Product",
    "Sku",
    "StockLevel",
    "StockMovement",
    "StockReservation",
    "StockReservationLine",
    "Store",
    "StoreHours",
    "StoreHoursException",
    "StoreListing",
    "StoreStaff",
]
