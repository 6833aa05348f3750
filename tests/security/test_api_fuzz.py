"""API fuzzing: schemathesis generates requests from /schema/openapi.json for every operation a role uses and sends
them, signed in as that role, to the live app over HTTP → zero 5xx and zero responses that break their schema.

Examples per operation are capped (FUZZ_EXAMPLES, default 4) and derandomized, so a run is reproducible and fits
the test budget; valid and invalid requests are mixed. The requests run in a worker thread (schemathesis is synchronous) while the app serves them from
the test's event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.security.world import World, build_world

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))

# Which operations each role fuzzes (path regexes); anonymous fuzzes what everyone may call.
SCOPES: dict[str, tuple[str, ...]] = {
    "anonymous": (r"^/api/(stores|catalogue)", r"^/auth/wechat", r"^/api/auth/", r"^/health"),
    "customer_a": (r"^/api/(orders|cart|customer|payments|wechat)",),
    "staff_a": (r"^/api/staff/", r"^/api/engage/(inbox|qrcodes)", r"^/api/admin/stores"),
    "finance": (r"^/api/finance/", r"^/api/admin/(orders|refunds|customers|audit)"),
    "admin": (r"^/api/admin/", r"^/api/engage/"),
}

# Operations not fuzzed, and why (each is tested elsewhere).
SKIPPED: dict[str, str] = {
    r"^/sandbox": "the dev-only WeChat simulator, not our API",
    r"^/wechat/message": "WeChat's signed XML callback: tests/integration/engage/test_engage_endpoint.py",
    r"^/payments/wechatpay/": "WeChat Pay's signed notify: tests/integration/payments/test_forgery.py",
    r"/stream$": "a server-sent event stream never ends: tests/integration/delivery/test_dispatch_live.py",
    r"^/api/auth/logout$": "would sign the fuzzing session out (it takes no input)",
}


def in_scope(role: str, path: str) -> bool:
    if any(re.search(p, path) for p in SKIPPED):
        return False
    return any(re.search(p, path) for p in SCOPES[role])


def negative(operation: Any) -> Any:
    """Invalid requests too (wrong types, missing fields): they must be 4xx, never 5xx."""
    try:
        return operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    except Exception:  # nothing in this operation can be made invalid
        return st.nothing()


def fuzz_role(schema: Any, base_url: str, role: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    """Runs in a thread: every in-scope operation, EXAMPLES cases each. Returns (cases sent, failures)."""
    failures: list[str] = []
    sent = 0
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        if not in_scope(role, operation.path):
            continue

        @hsettings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(operation.as_strategy(), negative(operation)))
        def run(case: Any) -> None:
            nonlocal sent
            sent += 1
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=15)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except Unsatisfiable:
            continue
        except (Exception, BaseExceptionGroup) as exc:  # this operation's first failure; all are reported together
            failures.append(f"{role} {operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    return sent, failures


@pytest.fixture
async def world(http: httpx.AsyncClient) -> World:
    return await build_world(http)


@pytest.fixture
async def schema(http: httpx.AsyncClient) -> Any:
    r = await http.get("/schema/openapi.json")
    assert r.status_code == 200
    return schemathesis.openapi.from_dict(r.json())


async def test_fuzzing_finds_no_server_error_and_no_schema_violation(live_app: str, world: World, schema: Any) -> None:
    """One world for all roles (building it is the expensive part); each role signed in as itself."""
    failures: list[str] = []
    for role in SCOPES:
        started = time.monotonic()
        sent, failed = await asyncio.to_thread(fuzz_role, schema, live_app, role, world.headers[role])
        print(f"fuzz {role}: {sent} requests in {time.monotonic() - started:.1f} s, {len(failed)} failures")
        assert sent >= EXAMPLES, f"{role}: nothing was fuzzed"
        failures += failed
    assert not failures, f"{len(failures)} failing operations:\n" + "\n\n".join(failures)
