"""Everything about the data as it arrives: source contracts and their readers,
reference tables, identifier rules, and the synthetic generator."""
