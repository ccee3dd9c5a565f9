"""Operations: health and readiness probes, Prometheus metrics, log format (see docs/operations.md).

``metrics`` and ``logs`` are framework-free (the task runner and the CLI use them); ``http`` is the face
that ``rtmhub.app`` installs. Nothing is imported here, so importing ``rtmhub.ops.metrics`` pulls in no
web framework."""
