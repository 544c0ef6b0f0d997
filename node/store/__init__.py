"""What a node keeps on disk: the SQLite token log (`Store`), the `Engine`
that restores a core from it and makes every `Persist` durable before the
network sees anything, and the node's home directory (identity, config,
API token)."""

from .engine import Engine, EngineFailed
from .sqlite import CheckReport, Store, StoreError, StoreFull

__all__ = ["Store", "StoreError", "StoreFull", "CheckReport", "Engine", "EngineFailed"]
