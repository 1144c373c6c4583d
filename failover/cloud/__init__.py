"""ECS/VPC adapter on the official SDK; the only package that imports it."""
