"""Channel drivers: WhatsApp (EUM Social), SMS (EUM SMS) and email (SES v2), plus the DRY_RUN recorder.

The gateway is the only caller. Each driver splits a send into a pure ``build_request`` (the exact AWS
calls, see :mod:`channels.base`) and ``send`` (performs them); :mod:`channels.dryrun` records the calls
instead; :mod:`channels.retry` retries retryable failures; :mod:`channels.wiring` assembles them.
Nothing here knows about contacts, policies, stores or HTTP.
"""
