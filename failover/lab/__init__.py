"""Network-namespace lab: real kernel networking, real traffic, real failover."""
