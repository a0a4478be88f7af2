"""gzip for the check page and its files (issue 18: on a slow phone network the ~80 KB of
JavaScript and CSS were a quarter of the time to the first frame; gzipped they are ~25 KB).

Only the page and ``/static/``: public text with no secret in it, so compression cannot leak one
(BREACH). A compressed response keeps its validator as a weak ETag (the same content, another
encoding, as nginx does), so revalidation still answers 304.
"""

from __future__ import annotations

import gzip
from functools import lru_cache

from quart import Response

GZIP = "gzip"
COMPRESSIBLE = frozenset({"text/html", "text/css", "text/javascript", "application/javascript", "application/json"})
MIN_BYTES = 1024  # below this the gzip header and the CPU cost more than they save
LEVEL = 6  # zlib's default: within 1-2 % of 9 on these files, at a fraction of the CPU


def accepts_gzip(header: str | None) -> bool:
    """``Accept-Encoding`` gives gzip (by name, else by ``*``) a weight above 0."""
    weights: dict[str, float] = {}
    for item in (header or "").split(","):
        coding, *parameters = (part.strip().lower() for part in item.split(";"))
        weight = 1.0
        for name, _, value in (parameter.partition("=") for parameter in parameters):
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0  # unreadable: not an acceptance
        weights.setdefault(coding, weight)
    return weights.get(GZIP, weights.get("*", 0.0)) > 0


@lru_cache(maxsize=64)
def gzipped(data: bytes) -> bytes:
    """The same files are asked for again and again: each compressed once (mtime 0: the same bytes)."""
    return gzip.compress(data, compresslevel=LEVEL, mtime=0)


def encoded(kind: str | None, body: bytes, accept_encoding: str | None) -> bytes | None:
    """``body`` gzipped where its type compresses, it is big enough and the client takes gzip; else None."""
    if (kind or "").split(";")[0].strip().lower() not in COMPRESSIBLE or len(body) < MIN_BYTES:
        return None
    return gzipped(body) if accepts_gzip(accept_encoding) else None


async def compress(response: Response, accept_encoding: str | None) -> Response:
    """``response`` gzipped where the client takes it; a 304, a range or an encoded one unchanged."""
    if response.status_code != 200 or "Content-Encoding" in response.headers or "Content-Range" in response.headers:
        return response
    if response.mimetype not in COMPRESSIBLE:
        return response
    response.vary.add("Accept-Encoding")  # whether compressed or not, the answer depends on it
    body = encoded(response.mimetype, await response.get_data(as_text=False), accept_encoding)
    if body is None:
        return response
    response.set_data(body)
    response.headers["Content-Encoding"] = GZIP
    etag, _ = response.get_etag()
    if etag:
        response.set_etag(etag, weak=True)
    return response
