"""The use cases (chat, memories, sessions, profiles): they return values or raise
``chatmem.services.errors`` errors and never emit events; the worker and the headless
commands call them alike."""
