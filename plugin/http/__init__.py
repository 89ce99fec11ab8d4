"""The aiohttp HTTP API. Handlers translate between JSON and the services;
status codes live in ``errors.py`` only."""
