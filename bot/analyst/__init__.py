"""The analyst: collected evidence → a validated, grounded ``Brief``.

- ``client.py``: the ``LLMClient`` Protocol, ``LLMReply``, the ``LLMError`` tree, prices
- ``anthropic.py`` / ``openai_compat.py``: providers (structured output by a forced ``submit_brief`` tool)
- ``prompt.py`` + ``schema.py``: what the model is told and the JSON Schema it fills in
- ``grounding.py``: schema, cited ids, known services, rollback targets
- ``deterministic.py`` + ``signals.py``: the rule-based brief
- ``chain.py``: ``Analyst`` (primary → repair → fallback → rule-based, budgets, cost)
- ``factory.py``: ``build_analyst(settings)``
"""
