"""Test oracles for promising, shipped with the package (as `polars.testing`).

- `promising.testing.atp_reference`: plain-Python ATP (availability, promise, commit, discrete
  ATP, FIFO pegging) from the definitions in DESIGN.md;
- `promising.testing.ctp_reference`: plain-Python capable-to-promise (`Reference`);
- `promising.testing.substitution_reference`: plain-Python item substitution over the ATP one.

Tests hold the compiled kernels equal to them; benchmarks check the kernels against them
before timing. They need nothing beyond promessa itself (no hypothesis, no pytest).
"""

from promising.testing import atp_reference, ctp_reference, substitution_reference

__all__ = ["atp_reference", "ctp_reference", "substitution_reference"]
