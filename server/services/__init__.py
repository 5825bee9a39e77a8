"""Service functions: each owns one transaction and is the only way state changes.

GraphQL resolvers, the REST facade, workers and the in-process runner all call these; none
of them touches the tables directly.
"""
