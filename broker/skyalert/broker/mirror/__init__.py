"""Federation: upstream brokers' topics taken in through our own pipeline.

``worker`` is ``skyalert worker mirror`` (the inbox loop over an upstream's topics, with
provenance); ``status`` what the admin page shows of each mirror (lag upstream, last alert).
MirrorMaker 2, which copies topics broker to broker without our pipeline, is launched from
:mod:`skyalert.broker.kafka.mirror_maker`.
"""
