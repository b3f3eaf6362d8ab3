"""HTTP clients for the service's upstreams: the LLM, the payment provider and the maps service.

Each keeps one shared ``httpx.AsyncClient`` for its lifetime (opened by the app's lifespan) and turns
every failure into its own error type, so the agents can fall back without knowing about HTTP.
"""
