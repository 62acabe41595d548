"""pyd-runc commands: one module per command, imported lazily by main."""
