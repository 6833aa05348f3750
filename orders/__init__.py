"""Orders: carts and quotes, pricing in fen, placement with stock reservation, state machines, cancellation, prescriptions, after-sales."""
