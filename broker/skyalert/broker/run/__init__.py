"""The front door: the composition root.

The ``skyalert`` CLI, the stack supervisor and the one worker registry. The only part of the
broker that may import ``skyalert.web`` and the auth CLI.
"""
