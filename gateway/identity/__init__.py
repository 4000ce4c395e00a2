"""Who a caller is, below both ``gateway.auth`` and ``gateway.users``: roles, principals, password hashing.

A leaf: it imports neither ``gateway.auth`` nor ``gateway.users``, so both may import it without a loop.
"""
