"""Run reports: model, formatting, charts, Markdown/HTML renderers, writer."""
