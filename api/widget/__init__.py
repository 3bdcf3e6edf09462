"""The widget's door: the embeddable chat element and the demo page, served as static files."""
