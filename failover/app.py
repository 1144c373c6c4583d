"""The composition root: builds adapters from config and wires them together.

The only module that knows every adapter; `failover run` and the operator
commands get their collaborators from here.
"""
