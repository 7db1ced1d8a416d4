"""Configure-to-order: configuration models, interactive sessions, option pricing and promising.

Public names: `Model`, `parse_model`, `load_model`, `renault_model`, `ModelLibrary` (models and
versions), `compile_model`, `Compiled`, `find_order` (the decision diagram), `Session`, `Why`,
`HowToGet` (interactive configuration), `Checker` (the independent CP-SAT model),
`price_configuration`, `OptionPrice` (option pricer), `explode`, `promise_configuration`,
`ConfiguredPromise`, `option_dater` (configured order lines).
"""

from configurator.checker import Checker
from configurator.compile import Compiled, compile_model, find_order
from configurator.lines import ConfiguredPromise, Need, explode, option_dater, promise_configuration
from configurator.model import Model, ModelLibrary, load_model, parse_model, renault_model
from configurator.pricing import OptionPrice, price_configuration
from configurator.session import HowToGet, Session, Why

__all__ = [
    "Checker", "Compiled", "ConfiguredPromise", "HowToGet", "Model", "ModelLibrary", "Need", "OptionPrice", "Session",
    "Why", "compile_model", "explode", "find_order", "load_model", "option_dater", "parse_model", "price_configuration",
    "promise_configuration", "renault_model",
]
