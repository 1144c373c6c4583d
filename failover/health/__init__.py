"""Health checking: probes (I/O), hysteresis and quorum (pure), scheduling."""
