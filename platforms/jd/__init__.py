"""JD (京东) behind the platform port: JOS signing and client, JD's errors, its state table, its row
mapping and the adapter that turns the ERP's verbs into JOS calls (adapter.JdPlatform).

Pure Python at import: the SA sandbox imports `codes` and `signing` without Django; the client and
the adapter, which read Django's settings, are imported only by whoever uses them.
"""
