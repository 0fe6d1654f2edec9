"""onefold: an open-source customer data platform.

Collect data from every channel, clean and standardise it, resolve identities into one
persistent profile per person, and put that view to work.

Examples:
    >>> from onefold import Workspace
    >>> ws = Workspace.init("my-workspace")      # doctest: +SKIP
    >>> ws.load(); ws.resolve()                  # doctest: +SKIP
    >>> ws.search("ann.lee@example.com")         # doctest: +SKIP
"""

from onefold.errors import ConfigError, OnefoldError, WorkspaceError
from onefold.workspace import ResolveResult, Workspace

__all__ = ["ConfigError", "OnefoldError", "ResolveResult", "Workspace", "WorkspaceError"]
__version__ = "0.1.0"
