"""Question images: uploaded with a quiz, kept in Redis so that every server process serves them.

- `POST /api/images` takes the image bytes (at most MAX_IMAGE_BYTES). The type is judged by the
  content (PNG, JPEG, GIF, WebP magic numbers), never by a header or a name; SVG is refused
  (it can carry scripts). The image is stored under its SHA-256, so the same picture in many
  quizzes is kept once, for the game TTL; answers `{"id", "url"}`.
- At most MAX_STORED_IMAGES live at once (a sorted set of ids by expiry, the index, keeps the
  count): beyond it an upload gets 507 `image_store_full` and nothing is stored. Worst case in Redis:
  MAX_STORED_IMAGES × MAX_IMAGE_BYTES. One address uploads at most `UPLOADS` an hour.
- `GET /api/images/{id}` serves one with a year's immutable cache (the URL is the content).
- `PUT /api/games/{pin}/images` (host token) says which question shows which image;
  `GET /api/games/{pin}/images` tells the pages (`{"images": [id or null, ...]}`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
from redis.asyncio import Redis, RedisCluster
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gameserver.http_api import ORJSONResponse, client_error_response, error_response, hosted_game
from gameserver.iplimits import Budget, IpRateLimited, ip_limits
from gameserver.keys import GameKeys
from gameserver.ws import PIN_PATTERN

MAX_IMAGE_BYTES = 512 * 1024
MAX_STORED_IMAGES = 500
#: Uploads per address: a teacher's quizzes need a few dozen; one address cannot fill the store
#: for everyone in minutes (over it: 429 rate_limited with Retry-After, see `iplimits`).
UPLOADS = Budget("image", 120, 3600)
IMAGE_ID = re.compile(r"^[0-9a-f]{64}$")
IMMUTABLE = "public, max-age=31536000, immutable"

# Key names of this module. On a Redis Cluster the index is one slot for the whole store, which
# is acceptable: a zset of at most MAX_STORED_IMAGES ids, written once per upload (uploads are
# limited per address). The images themselves, the bytes that are read, are not tagged: each
# lives in the slot of its own id, so the store spreads over the cluster's masters.
INDEX_KEY = "livequiz:{images}:index"


def image_key(image_id: str) -> str:
    return f"livequiz:image:{image_id}"


def game_images_key(pin: str) -> str:
    """The game's question -> image list, beside its other keys (same slot, see keys.py)."""
    return GameKeys(pin).prefix + "images"


# KEYS: index (zset id -> expiry ms).
# ARGV: ttl_s, now_ms, max_count, id.
# Takes a place in the index unless MAX_STORED_IMAGES live images hold one already; a known
# image only has its expiry moved. Returns 1 when the image may be stored, 0 when the store is
# full. The image's bytes are written after it, under their own key: a place is taken before
# any byte is stored, so the bound holds whatever happens between the two (a write that fails
# leaves a place taken until it expires, nothing more).
RESERVE_IMAGE = """
local ttl = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[4]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl * 1000, ARGV[4])
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""


async def store_image(
    redis: Redis | RedisCluster, data: bytes, *, ttl_s: int, now_ms: int, max_count: int = MAX_STORED_IMAGES
) -> str | None:
    """Keep `data` under its SHA-256 for `ttl_s`; the id, or None when `max_count` live images
    are stored already (a known image is always taken: it only has its expiry renewed)."""
    image_id = hashlib.sha256(data).hexdigest()
    reserve = redis.register_script(RESERVE_IMAGE)  # type: ignore[misc]  # typed for Redis; runs on a cluster too
    if await reserve(keys=[INDEX_KEY], args=[ttl_s, now_ms, max_count, image_id]) != 1:
        return None
    await redis.set(image_key(image_id), data, ex=ttl_s)  # a known image: the same bytes again
    return image_id


def image_type(data: bytes) -> str | None:
    """The media type the bytes really are, or None for anything but PNG/JPEG/GIF/WebP."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


async def read_bounded(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it passes `limit` bytes (the rest is not read)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


def _redis(request: Request) -> Redis | RedisCluster:
    return request.app.state.live.redis  # type: ignore[no-any-return]


async def upload_image(request: Request) -> Response:
    limits = ip_limits(request.app.state.live)
    try:
        await limits.charge(UPLOADS, limits.ip(request.scope))
    except IpRateLimited as error:
        return client_error_response(error)
    data = await read_bounded(request, MAX_IMAGE_BYTES)
    if data is None:
        return error_response(413, "image_too_large", f"an image may have at most {MAX_IMAGE_BYTES} bytes")
    if image_type(data) is None:
        return error_response(415, "image_type", "send a PNG, JPEG, GIF or WebP image")
    ttl_s = request.app.state.live.settings.game_ttl_s
    now_ms = request.app.state.live.clock.now_ms()
    image_id = await store_image(_redis(request), data, ttl_s=ttl_s, now_ms=now_ms)
    if image_id is None:
        return error_response(507, "image_store_full", "too many images are stored; try again later")
    return ORJSONResponse({"id": image_id, "url": f"/api/images/{image_id}"}, status_code=201)


async def get_image(request: Request) -> Response:
    image_id = str(request.path_params["image_id"])
    if not IMAGE_ID.match(image_id):
        return error_response(404, "not_found", "no such image")
    if request.headers.get("if-none-match", "").strip('"') == image_id:
        return Response(status_code=304, headers={"ETag": f'"{image_id}"', "Cache-Control": IMMUTABLE})
    data = await _redis(request).get(image_key(image_id))
    media = image_type(data) if data is not None else None
    if data is None or media is None:
        return error_response(404, "not_found", "no such image")
    return Response(data, media_type=media, headers={"Cache-Control": IMMUTABLE, "ETag": f'"{image_id}"'})


def _valid_list(value: Any, question_count: int) -> list[str | None] | None:
    if not isinstance(value, list) or len(value) > question_count:
        return None
    if not all(v is None or (isinstance(v, str) and IMAGE_ID.match(v)) for v in value):
        return None
    return list(value)


async def put_game_images(request: Request) -> Response:
    record = await hosted_game(request)
    if isinstance(record, Response):
        return record
    pin, live = record.pin, request.app.state.live
    raw = await read_bounded(request, 64 * 1024)
    try:
        body = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        body = None
    images = _valid_list(body.get("images") if isinstance(body, dict) else None, record.state.question_count)
    if images is None:
        details = [{"loc": ["images"], "msg": "a list of image ids or nulls, one per question", "type": "invalid"}]
        return error_response(400, "bad_message", "images must list an image id or null per question", details)
    redis = _redis(request)
    for image_id in {i for i in images if i}:
        if not await redis.exists(image_key(image_id)):
            unknown = [{"loc": ["images", images.index(image_id)], "msg": "unknown image", "type": "not_found"}]
            return error_response(400, "unknown_image", "upload the image first (POST /api/images)", unknown)
    await redis.set(game_images_key(pin), orjson.dumps(images), ex=live.settings.game_ttl_s)
    return ORJSONResponse({"images": images})


async def get_game_images(request: Request) -> Response:
    pin = str(request.path_params["pin"])
    if not PIN_PATTERN.match(pin):
        return error_response(404, "unknown_game", "no such game")
    raw = await _redis(request).get(game_images_key(pin))
    images = orjson.loads(raw) if raw is not None else []
    return ORJSONResponse({"images": images}, headers={"Cache-Control": "no-cache"})


def image_routes() -> list[Route]:
    return [
        Route("/api/images", upload_image, methods=["POST"]),
        Route("/api/images/{image_id}", get_image, methods=["GET", "HEAD"]),
        Route("/api/games/{pin}/images", put_game_images, methods=["PUT"]),
        Route("/api/games/{pin}/images", get_game_images, methods=["GET"]),
    ]
