"""Every shop table, imported in one place so the mappers and the metadata know them all."""

from shop.audit import AuditEntry
from shop.catalogue.models import Category, Product, Sku, StoreListing
from shop.customers.models import Customer, CustomerAddress, OfficialAccount
from shop.members.models import (
    MemberCard,
    MemberCardEntry,
    MemberCodeToken,
    MemberHold,
    MemberLevel,
    MemberPointsAward,
    TopUp,
    TopUpPlan,
)
from shop.stock.models import StockLevel, StockMovement, StockReservation, StockReservationLine
from shop.stores.models import Store, StoreHours, StoreHoursException, StoreStaff

__all__ = [
    "AuditEntry",
    "Category",
    "Customer",
    "CustomerAddress",
    "MemberCard",
    "MemberCardEntry",
    "MemberCodeToken",
    "MemberHold",
    "MemberLevel",
    "MemberPointsAward",
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
    "TopUp",
    "TopUpPlan",
]
