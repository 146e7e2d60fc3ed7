"""The SA sandbox: a real HTTP server playing JD's JOS API (order search, refund applications,
warehouse-status writeback, the merchant's SA auto-refund policy) for tests and demos.

Standard library only (plus the pure-Python `platforms.jd.signing` and `sa_sync.demo_shops`): it runs as
its own process, `python -m sandbox`, and never imports Django. Tests start it with
`sandbox.testing.start_sandbox()`. See docs/sandbox.md.
"""
