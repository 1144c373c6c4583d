"""The configuration file: YAML in, validated, typed, immutable models out.

Owns the configuration contract of DESIGN.md. Every problem is reported as
one line naming its key path (`groups[0].members: needs at least 2 instances`),
all problems at once, so an operator fixes the file in one pass.
"""

from failover.config.loader import default_path, load, not_found_message, parse
from failover.config.models import (
    CHECK_TYPES,
    MAX_SECONDARY_IPS,
    PLACEHOLDERS,
    STOP_TO_ATTACH_TYPES,
    Check,
    CloudConfig,
    CommandCheck,
    Config,
    ConfigError,
    ControllerConfig,
    Defaults,
    EcsStatusCheck,
    EnvCredentials,
    GroupConfig,
    GuestConfig,
    HealthConfig,
    HttpCheck,
    PolicyConfig,
    TcpCheck,
    ZkAuth,
    ZkTls,
    ZookeeperConfig,
    split_host_port,
)
from failover.config.rules import environment_problems, semantic_problems, warnings

__all__ = [
    "CHECK_TYPES", "MAX_SECONDARY_IPS", "PLACEHOLDERS", "STOP_TO_ATTACH_TYPES", "Check", "CloudConfig",
    "CommandCheck", "Config", "ConfigError", "ControllerConfig", "Defaults", "EcsStatusCheck",
    "EnvCredentials", "GroupConfig", "GuestConfig", "HealthConfig", "HttpCheck", "PolicyConfig",
    "TcpCheck", "ZkAuth", "ZkTls", "ZookeeperConfig", "default_path", "environment_problems", "load",
    "not_found_message", "parse",
    "semantic_problems", "split_host_port", "warnings",
]
