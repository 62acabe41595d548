"""What the Engine API routers share (moby's api/server/httputils)."""
