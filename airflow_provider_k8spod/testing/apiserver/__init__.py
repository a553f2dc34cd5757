"""The API server: routes, storage, admission, validation, watch, patch formats, errors, the exec/log streams and the admin endpoint."""
