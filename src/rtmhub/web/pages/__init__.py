"""The page modules, one per area; ``rtmhub.web.install`` includes their routers in ``ROUTERS`` order."""
