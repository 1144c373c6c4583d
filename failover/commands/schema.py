"""`failover config schema`: the configuration file's JSON Schema, for editors and CI.

Generated from the same pydantic models that load the file, so it cannot drift from them.
The schema states the structure; `failover validate` adds the cross-field rules (an ENI in
one group, timeout below interval...) that JSON Schema cannot say.
"""

from __future__ import annotations

import json

import click

from failover.config import Config


def config_schema() -> dict[str, object]:
    doc: dict[str, object] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    doc.update(Config.model_json_schema())
    doc["title"] = "failover configuration"
    return doc


@click.group()
def config() -> None:
    """The configuration file's schema."""


@config.command()
def schema() -> None:
    """Print the JSON Schema of the configuration file (YAML editors accept it)."""
    click.echo(json.dumps(config_schema(), indent=1, sort_keys=True))
