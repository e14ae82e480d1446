"""``shakenkit serve``: the verification service (STI-VS) over the ATIS-1000082 HTTP API.

The HTTP side (uvicorn, prometheus-client) is the optional ``serve`` extra
(``pip install 'shakenkit[serve]'``). :mod:`.schemas` holds the request and response shapes as
pure functions, :mod:`.app` the ASGI application, :mod:`.metrics` the Prometheus series,
:mod:`.runner` the uvicorn glue and :mod:`.cli` the command. See docs/serve.md.
"""
