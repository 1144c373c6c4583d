"""CLI command families, one module each, registered on the root group in cli.py."""
