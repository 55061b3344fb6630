# Test-only stand-in for python:3.12-slim, built from the local Debian minbase (registries cannot be pulled from
# here). It behaves as the official image does for infra/docker/Dockerfile: `python` and `pip` on PATH, pip free to
# install as root (no "externally managed" marker), and the CA bundle of this machine, the only one its package-index
# traffic verifies against, named by SSL_CERT_FILE (uv, pip) and PIP_CERT (pip).
ARG MINBASE
FROM ${MINBASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip python-is-python3 \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \
 && ln -s /usr/bin/pip3 /usr/local/bin/pip
COPY ca-certificates.crt /etc/ssl/certs/prynai-test-ca-bundle.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/prynai-test-ca-bundle.crt \
    PIP_CERT=/etc/ssl/certs/prynai-test-ca-bundle.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1
CMD ["python3"]
