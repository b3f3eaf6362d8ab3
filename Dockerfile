# The harness's simulators as one server, deployed next to staging: `easymo-qa simulators serve`.
# See docs/deployment.md for the SIM_* variables, TLS and the easyMO team's checklist.
#
#   docker build -t easymo-qa-simulators .
#   docker run -p 8089:8089 -e SIM_HARNESS_TOKEN -e SIM_GRAPH_TOKEN -e SIM_PHONE_NUMBER_ID ... easymo-qa-simulators
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package build reads (.dockerignore keeps the rest out); runtime dependencies only:
# no dev or load extras.
WORKDIR /build
COPY pyproject.toml README.md ./
COPY easymo_qa ./easymo_qa
RUN pip install --no-cache-dir . && rm -rf /build

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin simulators
USER simulators
WORKDIR /home/simulators

EXPOSE 8089

# Docker runs this inside the container; exit 0 is healthy, 1 unhealthy
# (https://docs.docker.com/reference/dockerfile/#healthcheck). The slim image has no curl, so Python
# asks the public /_sim/health, over http or, when the server was given --tls-cert, https: the check
# dials loopback, whose name the certificate need not carry, so it does not verify the certificate.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["python", "-c", "import ssl,sys,urllib.request as r;c=ssl._create_unverified_context();f=lambda s:r.urlopen(s+'://127.0.0.1:8089/_sim/health',timeout=3,context=c).status==200\ntry: sys.exit(0 if f('http') else 1)\nexcept Exception: sys.exit(0 if f('https') else 1)"]

CMD ["easymo-qa", "simulators", "serve", "--host", "0.0.0.0", "--port", "8089"]
