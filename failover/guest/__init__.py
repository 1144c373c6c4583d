"""Guest OS network configuration: renderers and executors."""
