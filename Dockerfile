# livequiz: the game server and the platform in one image.
# Build: docker build -t livequiz .   Run with Redis and PostgreSQL: docker compose up
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gameserver gameserver
COPY statemachine statemachine
COPY scoring scoring
COPY transports transports
COPY persistence persistence
COPY loadtests loadtests
RUN pip install ".[s3]" && useradd --system --home /data livequiz && mkdir -p /data && chown livequiz /data
USER livequiz
ENV LIVEQUIZ_DATA_DIR=/data
EXPOSE 8000
# Migrates the database once, then starts the workers (each also checks the migrations).
CMD ["livequiz", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
