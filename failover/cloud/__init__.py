"""ECS/VPC adapter on the official SDK; the only package that imports it.

`EcsCloud` implements `failover.ports.CloudPort`. Modules: `sdk` (client construction, the one
call site, SDK exceptions -> `CloudError`), `errors` (classification), `budget` (API call
windows with a failover reserve), `calls` (one recorded, fenced, retried call), `waiting` (poll
plans, deadlines), `transitions` and `moves` (every wait as data: pure transitions), `scheduler`
(the one loop that looks, sends and decides for all of them), `looks` (what a round reads),
`convert` (answers -> model types), `reads` and `operations` (the port's two halves).
"""

from failover.cloud.adapter import EcsCloud

__all__ = ["EcsCloud"]
