"""containerd.services.tasks.v1.Tasks."""
