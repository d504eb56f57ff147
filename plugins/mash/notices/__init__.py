"""Notices: feedback to referrers, notifications and extract notices, each built once under its idempotency key,
allowed and audited under the sharing policy, rendered into the outbox and sent by SMTP exactly once.

    from mash.notices.outbox import build
    from mash.notices.sending import send
"""
