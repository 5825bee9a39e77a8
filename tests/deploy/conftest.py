"""The deployment files' checks (docker/, compose.yaml, .dockerignore): no services needed.

Helpers live in ``deploy.checks`` (tests/ is on the path, this folder is not a package).
"""
