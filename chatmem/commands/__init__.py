"""The headless commands behind ``chatmem ask|memories|sessions``: no Textual on these paths."""
