"""The sweep: scheduled work that comes due (reminders, expiry, reviews, escalation, the digest).

`steps.py` lists every step in the order they run; `run.py` runs them in one transaction;
`collector.py` batches what they want to say; `claims.py` claims due rows so that each is handled once.
docs/sweep.md explains how to add a step.
"""
