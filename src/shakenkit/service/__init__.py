"""``shakenkit serve``: the verification service (STI-VS) over the ATIS-1000082 HTTP API.

The HTTP side (uvicorn, httptools, prometheus-client, orjson) is the optional ``serve`` extra
(``pip install 'shakenkit[serve]'``). :mod:`.schemas` holds the request and response shapes as
pure functions, :mod:`.app` the service (given a loader that builds the
:class:`~shakenkit.Verifier`, so that reloads re-read the configuration; also an ASGI app),
:mod:`.http` the HTTP/1.1 protocol with the service's read deadlines and limits,
:mod:`.metrics` the Prometheus series and :mod:`.runner` the uvicorn glue. The ``serve`` command
(:mod:`shakenkit.cli.serve`) reads the options and builds the app. See docs/serve.md.

May import: ``errors``, ``certs``, ``repository``, ``core``, the root package, ``sip`` and
``signing`` (the STI-AS of ``POST /stir/v1/signing``); never ``traceback`` or ``cli``.
"""
