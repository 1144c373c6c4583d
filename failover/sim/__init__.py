"""ECS/VPC API emulator that the official SDK talks to; shares no code with the client."""
