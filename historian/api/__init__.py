"""The historian's HTTP API and trend viewer (``twinbench historian serve --http HOST:PORT``).

- :mod:`historian.api.app`: the Starlette app (routes, Arrow/JSON negotiation);
- :mod:`historian.api.frontend`: the server front end running it on uvicorn;
- :mod:`historian.api.queries`, :mod:`historian.api.streams`, :mod:`historian.api.write`:
  one query / several queries / a write, from parameters to the engine and back;
- :mod:`historian.api.params`, :mod:`historian.api.times`: reading parameters, ISO 8601 and
  PI-style times with nanoseconds kept;
- :mod:`historian.api.encode`: JSON value items built from the columns, Arrow IPC streams;
- :mod:`historian.api.errors`, :mod:`historian.api.auth`, :mod:`historian.api.health`,
  :mod:`historian.api.metrics`, :mod:`historian.api.openapi`: error shape, bearer tokens and
  scopes, phases and limits, ``/metrics``, the OpenAPI document;
- ``viewer/``: the static trend viewer page (uPlot from ``node_modules``).

Reference: docs/api.md. Needs the ``server`` extra (starlette, uvicorn, orjson).
"""
