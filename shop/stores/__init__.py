"""Shop: stores."""
