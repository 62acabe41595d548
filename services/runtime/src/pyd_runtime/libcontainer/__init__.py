"""The runtime library: containers, namespaces, mounts, cgroups (runc's libcontainer)."""
