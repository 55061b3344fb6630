# Test-only stand-in for haproxy:lts: Debian's haproxy, reading /usr/local/etc/haproxy/haproxy.cfg as the official
# image does, in the foreground.
ARG MINBASE
FROM ${MINBASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /usr/local/etc/haproxy
USER haproxy
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
