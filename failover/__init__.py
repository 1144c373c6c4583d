"""High-availability ENI failover controller for Alibaba Cloud ECS."""

__version__ = "0.1.0"
