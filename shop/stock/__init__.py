"""Shop: stock."""
