"""Outbound: the one choke point every message passes (`gateway.send()`), and what it relies on.

idempotency, composing channel messages, message records, the policy input, rate limits, tier,
send recovery and the outbound dead-letter replay.
"""
