"""The shim's processes: the container's init and its exec'd processes."""
