"""LLM access: the OpenAI-compatible client, error mapping, and the model table."""
