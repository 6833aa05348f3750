"""Delivery: dispatch of urgent orders (candidates, offers, claims, rings, fallback), SLA clock, handoff."""
