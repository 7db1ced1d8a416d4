"""Backlog rescheduling (strategy groups, FCFS or fair share) and what-if scenarios on copy-on-write
forks of the live state, with KPIs, charts and progress. See scenarios/README.md.

Modules: backlog (the core), whatif (scenarios, fork, KPIs), service (orders file / order book),
report (HTML, PNG), cli, api (FastAPI router), kernels, enums, progress.
"""
