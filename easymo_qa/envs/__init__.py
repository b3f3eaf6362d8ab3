"""Environments: which system to test, its secrets (as ``${VAR}``), capabilities and timeouts."""

from easymo_qa.envs.loader import (
    EnvironmentError_,
    declares_production,
    environment_name,
    load_environment,
    resolve_environment_path,
)
from easymo_qa.envs.model import Environment
from easymo_qa.envs.redact import Redactor

__all__ = [
    "Environment",
    "EnvironmentError_",
    "Redactor",
    "declares_production",
    "environment_name",
    "load_environment",
    "resolve_environment_path",
]
