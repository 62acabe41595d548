"""CRIU for pyd-runc: image parsing, the lazy-pages page server, and checkpoint/restore.

See services/runtime/docs/lazy-restore.md.  Modules on `pyd-runc restore`'s start path
(container, criu, rpc, protowire, kernel) import nothing heavy; the others may.
"""
