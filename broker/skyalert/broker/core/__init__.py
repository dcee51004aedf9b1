"""The platform every server part stands on.

Settings, the error tree, the database, mail, rate parsing, liveness, child processes,
migrations and generic secret helpers. Imports nothing else of the broker.
"""
