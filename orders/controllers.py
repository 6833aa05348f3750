"""The orders domain's HTTP routes (thin: each calls a service and returns a schema)."""

from orders.api_admin import AdminOrderController
from orders.api_customer import CartController, CustomerOrderController
from orders.api_staff import StaffOrderController

ROUTES = [CartController, CustomerOrderController, StaffOrderController, AdminOrderController]
