"""Prometheus metrics: one registry for requests, jobs, orders, payments and dispatch."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY)
REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
JOBS = Counter("jobs_total", "Background jobs by outcome", ["kind", "outcome"], registry=REGISTRY)
JOB_SECONDS = Histogram("job_duration_seconds", "Background job run time", ["kind"], registry=REGISTRY)
ORDERS = Counter("orders_total", "Order state transitions", ["to_status"], registry=REGISTRY)
PAYMENTS = Counter("payments_total", "Payment events", ["event"], registry=REGISTRY)
DISPATCH = Counter("dispatch_total", "Dispatch events", ["event"], registry=REGISTRY)


def render() -> bytes:
    return generate_latest(REGISTRY)
