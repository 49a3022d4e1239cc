"""Loopback fake Together and OpenAI servers for the provider tests (real HTTP on 127.0.0.1, no network).

Loaded by ``tests/helpers/fakes.py`` under the module name ``aitelier_provider_fakes`` (test folders are
not packages under ``--import-mode=importlib``); other test folders can use the same fixtures' servers.
"""
