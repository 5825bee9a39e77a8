"""The workflow engine's pure core: the definition language, its validation, and the state
machine that runs instances.

Nothing here does I/O, reads the clock or draws random numbers: ``decide`` is a function of
its inputs, so the semantics are tested without a database and run the same in every process.
"""

from engine.compiled import CompiledDefinition
from engine.decide import Decision, decide
from engine.definition import ProcessDefinition, definition_json_schema
from engine.errors import (
    DefinitionInvalid,
    EngineError,
    EventRejected,
    InvalidVariables,
    Problem,
    StaleEvent,
)
from engine.loading import load_definition_text
from engine.state import InstanceState
from engine.validation import compile_definition, validate_definition

__all__ = [
    "CompiledDefinition",
    "Decision",
    "DefinitionInvalid",
    "EngineError",
    "EventRejected",
    "InstanceState",
    "InvalidVariables",
    "Problem",
    "ProcessDefinition",
    "StaleEvent",
    "compile_definition",
    "decide",
    "definition_json_schema",
    "load_definition_text",
    "validate_definition",
]
