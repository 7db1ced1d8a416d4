"""Automatic reorder: reorder point or min-max per item-location from the order book's demand history, the
lead time and a target service level; proposals reviewed and released as durable supply (see README.md)."""

from reorder.book import ReorderBook, delta_ref
from reorder.planner import ReorderLine, report
from reorder.policy import Decision, Policy, decide, demand_stats, z_value

__all__ = ["Decision", "Policy", "ReorderBook", "ReorderLine", "decide", "delta_ref", "demand_stats", "report", "z_value"]
