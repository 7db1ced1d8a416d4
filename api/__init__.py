"""promessa's HTTP API: dependencies (keys, roles, one ``require``), errors, middleware and one
router per resource, mounted under ``/v1`` by :func:`api.app.build_app`. See ``api/README.md``."""
