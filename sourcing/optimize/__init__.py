"""Sourcing optimization: one instance and one CP-SAT model for the GAP core and the batch optimizer.

- `AssignmentInstance` (`sourcing.optimize.instance`): orders choose one option each; options
  cost money and use capacity pools; optional unserved orders, shipments, split limits and
  chained availability pools for the batch;
- `AssignmentModel` (`sourcing.optimize.model`): its CP-SAT model, one `_add_<rule>()` per
  constraint family, variables keyed by business keys.

`sourcing.assignment` (GAP: reader, greedy, SCIP, `solve`) and `sourcing.batch` (orders from a
snapshot: candidates, pools, greedy, LP, `solve_batch`) build on them.
"""

from sourcing.optimize.instance import AssignmentInstance
from sourcing.optimize.model import AssignmentModel

__all__ = ["AssignmentInstance", "AssignmentModel"]
