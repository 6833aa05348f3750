"""Payments' background work: deadline decisions, missed-notify checks, closes, refunds, daily reconciliation."""

from __future__ import annotations

from core.jobs import job_handler
from payments.execute_refund import POLL_JOB, poll_refund, send_refund
from payments.reconcile_day import DAILY_JOB, RECONCILE_JOB, daily_reconcile, reconcile_job
from payments.recover_payments import CHECK_JOB, CLOSE_JOB, check_intent, close_intents
from payments.request_refund import SEND_JOB
from payments.settle_deadline import DEADLINE_JOB, settle_deadline

job_handler(DEADLINE_JOB)(settle_deadline)
job_handler(CHECK_JOB)(check_intent)
job_handler(CLOSE_JOB)(close_intents)
job_handler(SEND_JOB)(send_refund)
job_handler(POLL_JOB)(poll_refund)
job_handler(RECONCILE_JOB)(reconcile_job)
job_handler(DAILY_JOB)(daily_reconcile)
