"""Supply snapshot: data contract, loader, generator and the commitment state."""

from supplydata.schema import ORDERS, TABLES
from supplydata.snapshot import Snapshot, State, build_snapshot, load_snapshot

# The generator is `supplydata.generate.generate` (a submodule, imported on demand).
__all__ = ["ORDERS", "TABLES", "Snapshot", "State", "build_snapshot", "load_snapshot"]
