"""The alert archive.

The store, time-ordered alert ids, sky geometry and cone search.
"""
