"""Payments commands of the `o2o` script: `reconcile --date D [--bill-file PATH]` and `ledger check`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any


def add_reconcile(sub: Any, name: str) -> None:
    sp = sub.add_parser(name, help="reconcile a day: WeChat Pay trade bill ↔ payments/refunds ↔ orders")
    sp.add_argument("--date", required=True, help="the business day (Asia/Shanghai), YYYY-MM-DD")
    sp.add_argument("--bill-file", help="a trade bill downloaded by hand from the merchant platform (.csv or .gz)")
    sp.add_argument("--sha1", help="the bill's announced SHA1 (checked over the decompressed file when given)")
    sp.add_argument("--json", action="store_true", help="print the result as one JSON object")
    sp.set_defaults(func=cmd_reconcile)


def add_ledger(sub: Any, name: str) -> None:
    sp = sub.add_parser(name, help="ledger tools: `ledger check` proves Σdebits = Σcredits")
    sp.add_argument("action", choices=("check",))
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_ledger)


def _day(text: str) -> date:
    from core.cli import CLIError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CLIError(f"--date must be YYYY-MM-DD, not {text!r}") from None


def cmd_reconcile(args: argparse.Namespace) -> None:
    from core.cli import CLIError, services

    day = _day(args.date)
    bill = Path(args.bill_file) if args.bill_file else None
    if bill is not None and not bill.is_file():
        raise CLIError(f"{bill} is not a readable file")
    with services():

        async def main() -> dict[str, Any]:
            from core.app import register_domain_handlers
            from core.db import dispose_engine, unit_of_work
            from core.logging import configure_logging
            from core.redis import close_redis
            from core.settings import get_settings
            from payments.gateway import close_clients
            from payments.reconcile_day import ensure_daily_job, reconcile_day

            configure_logging(get_settings().log_level, get_settings().log_json)
            register_domain_handlers()
            try:
                result = await reconcile_day(
                    day, bill_file=bill, expected_sha1=args.sha1, triggered_by=f"cli:{getpass.getuser()}"
                )
                async with unit_of_work() as session:
                    await ensure_daily_job(session)
                return result.as_dict()
            finally:
                await close_clients()
                await dispose_engine()
                await close_redis()

        try:
            result = asyncio.run(main())
        except Exception as exc:
            raise CLIError(f"reconciliation of {day} failed: {type(exc).__name__}: {exc}") from None
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(
            f"{day}: {result['status']}, {result['rows']:,} bill lines, {result['mismatches']} mismatches "
            f"in {result['seconds']:.1f}s (run {result['run_id']})"
        )
        for kind, n in sorted(result["found"].items()):
            print(f"  {kind}: {n}")
        if result["error"]:
            print(f"  {result['error']}", file=sys.stderr)
    if result["status"] != "done":
        raise CLIError(f"the bill of {day} was {result['status']}: {result['error']}")


def cmd_ledger(args: argparse.Namespace) -> None:
    from core.cli import CLIError, services

    with services():

        async def main() -> dict[str, Any]:
            from core.db import dispose_engine, unit_of_work
            from core.logging import configure_logging
            from core.settings import get_settings
            from payments.ledger import check_ledger

            configure_logging(get_settings().log_level, get_settings().log_json)
            try:
                async with unit_of_work() as session:
                    return (await check_ledger(session)).as_dict()
            finally:
                await dispose_engine()

        report = asyncio.run(main())
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(
            f"ledger: {report['transactions']:,} transactions, {report['entries']:,} entries, "
            f"debits {report['debit_fen']} fen, credits {report['credit_fen']} fen"
        )
        for a in report["accounts"]:
            print(
                f"  {a['account']:<32} debit {a['debit_fen']:>14}  credit {a['credit_fen']:>14}  "
                f"balance {a['balance_fen']:>14}"
            )
        for u in report["unbalanced"]:
            print(f"  UNBALANCED {u}", file=sys.stderr)
        for p in report["problems"]:
            print(f"  PROBLEM {p}", file=sys.stderr)
        print("ledger check: OK" if report["ok"] else "ledger check: FAILED")
    if not report["ok"]:
        raise CLIError("the ledger check failed")
