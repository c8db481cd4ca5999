"""The worker: the one owner of the store, the network and summarization."""
