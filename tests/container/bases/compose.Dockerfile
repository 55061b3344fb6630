# Debian's Compose v2 (the `docker compose` CLI plugin), only to copy its binary out: the tests run the compose
# files with it as well as with docker-compose 1.29.
ARG MINBASE
FROM ${MINBASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends docker-compose \
 && rm -rf /var/lib/apt/lists/*
