"""Orders: carts, quotes, pricing, the order state machine, reservations, timeouts, after-sales."""
