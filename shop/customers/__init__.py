"""Shop: customers."""
