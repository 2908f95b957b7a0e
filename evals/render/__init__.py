"""Turning results into HTML, Markdown, JUnit and terminal output."""
