"""Guest OS network configuration: renderers and executors.

After an attach the standby's OS must bring the ENI up with its private IPs
and send replies back through it. This package renders that as a POSIX
sh + iproute2 script (PowerShell for Windows) plus the persistent config of
each OS family, and runs it through Cloud Assistant (`CloudAssistantGuest`)
or not at all (`NoopGuest`, method `none`). Imports only model and ports.
"""

from failover.guest.bundle import Bundle, render_bundle
from failover.guest.executors import CloudAssistantGuest, GuestError, NoopGuest, make_guest
from failover.guest.persistent import ConfigFile, Persistent, render_persistent
from failover.guest.script import MAX_SCRIPT_BYTES, ScriptTooLarge, render_release, render_runtime
from failover.guest.validate import FAMILIES, MAX_IPS, GuestInputError, check_family, check_network

__all__ = [
    "FAMILIES", "MAX_IPS", "MAX_SCRIPT_BYTES", "Bundle", "CloudAssistantGuest", "ConfigFile",
    "GuestError", "GuestInputError", "NoopGuest", "Persistent", "ScriptTooLarge", "check_family",
    "check_network", "make_guest", "render_bundle", "render_persistent", "render_release",
    "render_runtime",
]
