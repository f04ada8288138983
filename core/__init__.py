"""Loopwise core: settings, the ``results`` contract, the severity order and the BI snapshot.

Every layer (ingestion, quality, decision engine, activation, orchestration and the
``loopwise`` command) may import this package; it imports none of them.
"""
