"""Web: pages for customers (H5), staff, finance and admin, calling domain services."""
