"""Static files of the pages with cache headers.

The scripts and styles are not renamed per release (no build step), so a long `max-age` could
pair a new page with an old script after an upgrade. They are sent `no-cache`: the browser keeps
them and asks again with the ETag, and an unchanged file costs a 304 with no body. Images
change only with their name and are kept for a day. Compression is the app's GZip middleware.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

REVALIDATE = "no-cache"
LONG_LIVED = "public, max-age=86400"


class CachedStaticFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            long_lived = path.replace("\\", "/").startswith("img/")
            response.headers["Cache-Control"] = LONG_LIVED if long_lived else REVALIDATE
        return response
