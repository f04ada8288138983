"""Personalization: per-contact models read from the marts (send time, content affinity,
micro-segments), each dated by the newest delivered send (``data_date``)."""
