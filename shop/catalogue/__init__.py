"""Shop: catalogue."""
