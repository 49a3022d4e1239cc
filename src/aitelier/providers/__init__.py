"""Fine-tuning providers: one interface (:mod:`.base`), a registry by name (:mod:`.registry`), and the built-in
Together, OpenAI and local providers, which import their SDKs only when used.

    from aitelier.providers.registry import connect
    provider = connect("together", project.root)   # key from the environment or the project's .env
    job = provider.get_job("ft-...")
"""
