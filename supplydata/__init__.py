"""Supply snapshot: data contract, loader, generator and the commitment state."""

from supplydata.schema import ORDERS, TABLES
from supplydata.snapshot import Snapshot, State, build_snapshot, load_snapshot

__all__ = ["ORDERS", "TABLES", "Snapshot", "State", "build_snapshot", "load_snapshot", "generate"]


def generate(out_dir, **kwargs):
    """Write a synthetic network and order stream; see `supplydata.generate.generate`."""
    from supplydata.generate import generate as _generate

    return _generate(out_dir, **kwargs)
