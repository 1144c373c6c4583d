"""Failover decisions (pure) and their resumable, fenced execution."""
