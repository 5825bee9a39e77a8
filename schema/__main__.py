"""Print the SDL: ``python -m schema > frontend-contract/schema.graphql``."""

from schema import schema

print(schema)
