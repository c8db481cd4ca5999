"""Plain records and rules: messages, sessions, memories and their kinds, dates, extraction,
recall, search ranking, context, tokens, and checks of records from outside. No Textual, no
protocol, no storage, no network."""
