"""Leases (containerd's leases/): hold resources (content, snapshots, ingests) from
garbage collection while an operation such as an import or a pull builds them."""
