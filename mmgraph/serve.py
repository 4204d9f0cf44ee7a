r"""``mmgraph serve``: top-k recommendations of a trained run over HTTP.

The run is loaded and its embeddings are computed **once** at start-up (an
:class:`~mmgraph.export.EmbeddingIndex`); each request is then one
matrix-vector product over the item table, the user's training items masked,
and a top-k: the same lists as ``mmgraph recommend``. The server is the
standard library's :class:`http.server.ThreadingHTTPServer` (no extra
dependency); it binds to ``127.0.0.1`` unless told otherwise.

Endpoints (all answer JSON):

* ``GET /health`` -- ``{"status": "ok", "model", "users", "items", "dim"}``.
* ``GET /recommend?user=<raw id>&k=<int>`` (``k`` defaults to 10) --
  ``{"user", "k", "items": [{"item": <raw id>, "score": <float>}, ...]}``,
  best first, training items excluded. An unknown user answers ``404`` and
  a bad ``k`` ``400``, each with ``{"error": "<one line>"}``.
"""
from __future__ import annotations

import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional, Union
from urllib.parse import parse_qs, urlsplit

from mmgraph.export import EmbeddingIndex, UnknownUserError

__all__ = ["make_server", "serve", "RecommendHandler", "MAX_K"]

log = logging.getLogger("mmgraph")

#: The longest list one request may ask for.
MAX_K = 1000


class RecommendHandler(BaseHTTPRequestHandler):
    r"""Answers ``/health`` and ``/recommend`` from ``self.server.index``."""

    server_version = "mmgraph"
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the
    # second waits for the client's delayed ACK (~40 ms per keep-alive
    # request).
    disable_nagle_algorithm = True

    def _send(self, status: int, body: dict) -> None:
        data = (json.dumps(body) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        index: EmbeddingIndex = self.server.index  # type: ignore[attr-defined]
        if url.path == "/health":
            return self._send(HTTPStatus.OK, {
                "status": "ok", "model": index.model, "users": index.num_users,
                "items": index.num_items, "dim": int(index.user_emb.size(1))})
        if url.path != "/recommend":
            return self._send(HTTPStatus.NOT_FOUND, {
                "error": f"no endpoint {url.path!r}; use /recommend?user=ID&k=K "
                         f"or /health"})
        query = parse_qs(url.query)
        user = query.get("user", [None])[0]
        if user is None:
            return self._send(HTTPStatus.BAD_REQUEST, {
                "error": "missing query parameter 'user' (a raw user id)"})
        k_text = query.get("k", ["10"])[0]
        try:
            k = int(k_text)
            if not 1 <= k <= MAX_K:
                raise ValueError
        except ValueError:
            return self._send(HTTPStatus.BAD_REQUEST, {
                "error": f"k={k_text!r}: expected an integer in 1..{MAX_K}"})
        try:
            body = index.recommend(user, k)
        except UnknownUserError as e:
            return self._send(HTTPStatus.NOT_FOUND, {"error": str(e)})
        self._send(HTTPStatus.OK, body)

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def make_server(index: EmbeddingIndex, host: str = "127.0.0.1",
                port: int = 0) -> ThreadingHTTPServer:
    r"""A bound (not yet serving) HTTP server answering from :obj:`index`;
    ``port=0`` picks a free port (``server.server_address[1]``)."""
    server = ThreadingHTTPServer((host, int(port)), RecommendHandler)
    server.daemon_threads = True
    server.index = index  # type: ignore[attr-defined]
    return server


def serve(source: Union[str, Path, EmbeddingIndex], host: str = "127.0.0.1",
          port: int = 8000,
          on_ready: Optional[Callable[[ThreadingHTTPServer], None]] = None
          ) -> None:
    r"""Serves a run folder, an ``npz`` export or an index until interrupted.

    Args:
        source: a run (or grid) folder, an ``.npz`` export of
            :mod:`mmgraph.export`, or an :class:`EmbeddingIndex`.
        host (str): address to bind (default: loopback only).
        port (int): port (``0``: any free one).
        on_ready (callable, optional): called with the bound server before
            it serves (its ``server_address`` has the port; calling its
            ``shutdown()`` from another thread stops :func:`serve`).
    """
    if isinstance(source, EmbeddingIndex):
        index = source
    elif Path(source).is_file():
        index = EmbeddingIndex.load_npz(source)
    else:
        index = EmbeddingIndex.from_run(source)
    server = make_server(index, host, port)
    h, p = server.server_address[:2]
    log.info("serving %r on http://%s:%d (GET /recommend?user=ID&k=K, "
             "GET /health)", index, h, p)
    if on_ready is not None:
        on_ready(server)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
