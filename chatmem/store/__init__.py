"""The store: TinyDB files owned by the worker alone, written atomically, sharded by session."""
