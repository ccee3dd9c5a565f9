"""Server-rendered Partner Hub and Control Hub pages (Jinja2, en/fi), mounted at / by rtmhub.app."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """The pages at / and their static files at /static."""
    from fastapi.staticfiles import StaticFiles

    from rtmhub.web import routes

    app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
