"""GET /api/results/{jti}: the best shot and full report of a token signed with ``jwt.claims =
minimal``, for the relying party's backend only (``Authorization: Bearer`` + ``jwt.results_key``),
until the token expires (docs/decider.md). Every refusal is JSON with an ``error`` name."""

from __future__ import annotations

import hmac
import json
import logging

from quart import Blueprint, Response, jsonify, request
from redis.asyncio import Redis

from shared.errors import BusUnavailable
from shared.keys import Keys
from shared.settings import Settings

log = logging.getLogger(__name__)
MAX_JTI = 64  # a UUID is 36 characters; anything longer is not one of ours


def results_blueprint(settings: Settings, redis: Redis, keys: Keys) -> Blueprint:
    results = Blueprint("results", __name__)
    expected = settings.jwt.results_key

    @results.get("/api/results/<jwt_id>")
    async def result(jwt_id: str) -> tuple[Response, int, dict[str, str]]:
        private = {"Cache-Control": "no-store"}  # a face image: never in a shared cache
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if expected is None:
            return jsonify({"error": "disabled", "message": "set VIGIL_JWT__RESULTS_KEY"}), 404, private
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                expected.get_secret_value().encode()):
            log.warning("results for %s refused: wrong or missing credentials from %s", jwt_id[:MAX_JTI],
                        request.remote_addr)
            return jsonify({"error": "unauthorized"}), 401, {**private, "WWW-Authenticate": "Bearer"}
        if len(jwt_id) > MAX_JTI:
            return jsonify({"error": "unknown_jti"}), 404, private
        try:
            raw = await redis.get(keys.result(jwt_id))
        except BusUnavailable as exc:
            log.warning("results store unreachable: %s", exc)
            return jsonify({"error": "unavailable"}), 503, private
        if raw is None:
            message = "unknown, expired, or not a minimal token"
            return jsonify({"error": "unknown_jti", "message": message}), 404, private
        return jsonify(json.loads(raw)), 200, private

    return results
