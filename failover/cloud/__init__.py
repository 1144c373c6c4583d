"""ECS/VPC adapter on the official SDK; the only package that imports it.

`EcsCloud` implements `failover.ports.CloudPort`. Modules: `sdk` (client
construction, the one call site, SDK exceptions -> `CloudError`), `errors`
(classification), `budget` (API token buckets with a failover reserve),
`waiting` (poll/back-off schedules, deadlines), `calls` (one recorded,
retried call), `convert` (answers -> model types), `moves` (pure attach/
detach/stop decisions), `reads` and `operations` (the port's two halves).
"""

from failover.cloud.adapter import EcsCloud

__all__ = ["EcsCloud"]
