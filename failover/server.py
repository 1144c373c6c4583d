"""HTTP endpoints of a replica: /metrics /healthz /readyz /status."""
