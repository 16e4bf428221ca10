# One image for every Parley process; the compose service's command picks which one runs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY alembic.ini scheduler.py ./
COPY core ./core
COPY actors ./actors
COPY webapp ./webapp
COPY migrations ./migrations

RUN useradd --system --uid 10001 parley && mkdir -p /app/instance && chown parley /app/instance
USER parley

EXPOSE 5000
CMD ["gunicorn", "--bind", "0.0.0.0:5000", "--workers", "2", "--threads", "4", "webapp:create_app()"]
