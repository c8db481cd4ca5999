"""Long-term memory: typed records, their store, their index and recall. No Textual here."""
