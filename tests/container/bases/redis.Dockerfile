# Test-only stand-in for redis:7-alpine: Debian's redis-server, run as the redis user from /data (the named volume's
# mount point), with redis-cli for the compose healthcheck.
ARG MINBASE
FROM ${MINBASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
CMD ["redis-server"]
