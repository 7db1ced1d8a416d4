"""Configure-to-order: configuration models, interactive sessions, option pricing and promising.

Public names: `Model`, `parse_model`, `load_model`, `renault_model`, `ModelLibrary` (models and
versions), `compile_model`, `Compiled`, `find_order` (the decision diagram), `Session`, `Why`,
`HowToGet` (interactive configuration), `Checker` (the independent CP-SAT model),
`price_configuration`, `OptionPrice` (option pricer), `explode`, `promise_configuration`,
`ConfiguredPromise`, `option_dater`, `resolve_configuration`, `commit_configuration` (configured order
lines), `price_configured_line`, `ConfiguredPrice` (through the price book), `SessionRegistry`, `ModelStore`,
`Configurator` (the running service: versions, durable uploads, sessions).
"""

from configurator.checker import Checker
from configurator.compile import Compiled, compile_model, find_order
from configurator.lines import (
    ConfiguredPromise,
    Need,
    commit_configuration,
    explode,
    option_dater,
    promise_configuration,
    resolve_configuration,
)
from configurator.model import Model, ModelLibrary, load_model, parse_model, renault_model
from configurator.pricing import ConfiguredPrice, OptionPrice, price_configuration, price_configured_line
from configurator.registry import SessionRegistry
from configurator.service import Configurator
from configurator.session import HowToGet, Session, Why
from configurator.store import ModelStore

__all__ = [
    "Checker", "Compiled", "ConfiguredPrice", "ConfiguredPromise", "Configurator", "HowToGet", "Model", "ModelLibrary",
    "ModelStore", "Need", "OptionPrice", "Session", "SessionRegistry", "Why", "commit_configuration", "compile_model",
    "explode", "find_order", "load_model", "option_dater", "parse_model", "price_configuration", "price_configured_line",
    "promise_configuration", "renault_model", "resolve_configuration",
]
