"""containerd's schema. HEAD names the newest revision under versions/."""

HEAD = "c0002"
