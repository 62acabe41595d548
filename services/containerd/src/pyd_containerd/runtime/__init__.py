"""Runtime v2: shims and the ttrpc endpoint they publish events to."""
