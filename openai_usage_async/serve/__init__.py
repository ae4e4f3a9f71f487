"""``openai-usage serve``: the store kept current and served to Prometheus, a browser and
web apps (being built; see ``_snapshot.py`` for what a sync leaves for readers)."""
