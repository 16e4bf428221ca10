"""The naive peer: Celery on RabbitMQ calling better-profanity directly (see tasks.py)."""
