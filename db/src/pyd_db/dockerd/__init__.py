"""dockerd's schema. HEAD names the newest revision under versions/."""

HEAD = "d0003"
