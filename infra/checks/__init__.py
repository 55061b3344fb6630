"""The project's checks of its Azure templates (a development tool: never part of the server's package or image).

- `bicep`: parse Bicep with tree-sitter-bicep (syntax problems) and evaluate what a deployment is known to create;
- `rules`: what the deployment must guarantee, over every parameter scenario (checkov has no Container Apps or
  Managed Redis checks);
- `checkov`: checkov itself, pinned and isolated, with its silent skips turned into failures.

Run them all: `uv run python -m infra.checks` (tests/infra runs them too).
"""
