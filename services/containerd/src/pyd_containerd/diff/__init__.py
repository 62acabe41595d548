"""Diffs between snapshots, and applying them (containerd's diff package)."""
