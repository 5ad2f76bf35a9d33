"""Configuration: the TOML file, its secrets (environment, .env, key files) and validation.

Modules: ``model`` (the resolved dataclasses), ``loader`` (lookup, parsing, validation), ``schema`` (typed reads that
collect problems), ``secrets`` (the Secret type, redaction, key files), ``starter`` (``config init`` and the config
written for paper venues).
"""
