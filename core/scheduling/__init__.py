"""Scheduling: the scheduler's periodic jobs (their triggers, slots, the run ledger, the active-scheduler
lease), the maintenance work a worker runs for them, daily statistics, and the overview moderators see.

The top layer of ``core``: may import every other package except ``messaging`` (the scheduler daemon and the
maintenance actor send what a job returns).
"""
