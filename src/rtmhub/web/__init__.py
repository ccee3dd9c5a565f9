"""Server-rendered Partner Hub and Control Hub pages (Jinja2, en/fi), mounted at / by create_app."""
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
