"""/docs (Swagger UI) and /redoc served entirely by rtmhub, so they work on an offline install.

The JavaScript and CSS come from the ``fastapi-offline`` package's copy of Swagger UI and Redoc, served
under /docs/assets. FastAPI's own pages load them from a public CDN and start Swagger UI with an inline
script, which the Content-Security-Policy (security_headers.py) forbids; these pages start it from a
script served here instead.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/assets"

# validatorUrl null: Swagger UI would otherwise send the spec to a public validator for its badge.
_SWAGGER_INIT = """"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
})();
"""

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{root}/docs/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Adds /docs, /redoc and their assets. Create the app with ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    def values(request: Request) -> dict[str, str]:
        root = str(request.scope.get("root_path") or "").rstrip("/")
        return {"title": escape(app.title), "root": escape(root), "assets": escape(root + ASSETS_URL),
                "openapi": escape(root + (app.openapi_url or "/openapi.json"))}

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        return HTMLResponse(_SWAGGER_PAGE.format(**values(request)))

    @app.get("/docs/swagger-init.js", include_in_schema=False)
    def swagger_init() -> Response:
        return Response(_SWAGGER_INIT, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        return HTMLResponse(_REDOC_PAGE.format(**values(request)))

