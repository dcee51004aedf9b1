"""Email: a delivery channel.

Subscriptions, the matcher, rendering, the delivery ledger, the sender and the worker. Depends
on accounts (``skyalert.auth``) explicitly: a subscription belongs to a user.
"""
