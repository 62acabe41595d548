"""Tasks: containers' running processes, through their shims."""
