"""The portal's HTML pages.

One module per page family, named for it, plus what the pages share (rendering, archive views,
the system status, the sky map).
"""
