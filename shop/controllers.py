"""Every shop route, collected for core.app."""

from shop.admin_controllers import (
    AuditController,
    CustomerAdminController,
    OfficialAccountController,
    StaffAdminController,
)
from shop.catalogue.controllers import AdminCatalogueController, ListingController, PublicCatalogueController
from shop.coupons.controllers import ROUTES as COUPON_ROUTES
from shop.customers.controllers import CustomerController, JsSdkController, WeChatSignInController
from shop.members.controllers import ROUTES as MEMBER_ROUTES
from shop.stock.controllers import StockController
from shop.stores.admin_controllers import AdminStoreController
from shop.stores.controllers import PublicStoreController

ROUTES = [
    PublicStoreController,
    PublicCatalogueController,
    WeChatSignInController,
    CustomerController,
    JsSdkController,
    AdminStoreController,
    StockController,
    ListingController,
    AdminCatalogueController,
    StaffAdminController,
    AuditController,
    CustomerAdminController,
    OfficialAccountController,
    *COUPON_ROUTES,
    *MEMBER_ROUTES,
]
