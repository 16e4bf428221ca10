"""Parley's domain package: config, models and logic shared by the web app and the actors."""
