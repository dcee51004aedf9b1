"""The alert pipeline.

Data contract, normalisation, refusal reasons, the rejections log, dead letters,
re-publishing, the inbox worker and the heartbeat. Never imports auth, web, emails or run.
"""
