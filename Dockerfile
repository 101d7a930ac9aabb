# snowmcp token service image (runtime=kubernetes and ecs). Multi-stage: build a wheel
# with the build tools, install it into a virtual environment, and copy only
# that environment into a runtime stage that runs as a non-root user with
# a read-only root filesystem (the Deployment and the ECS task set it).
#   docker build -t snowmcp-service:0.1.0 .
#   docker run --rm -p 8080:8080 --env-file service.env snowmcp-service:0.1.0
#
# The base is a build argument. The default is the public Python image (its python3 is
# the one the service runs on). Any Debian bookworm base without Python works too (its
# python3 is 3.11): PYTHON_FROM=apt installs Debian's python3 and python3-venv inside the
# build. docs/operations.md ("Container image") builds it from a debootstrap base with podman:
#   podman build --build-arg BASE_IMAGE=localhost/debian:bookworm --build-arg PYTHON_FROM=apt .
ARG BASE_IMAGE=python:3.11-slim

# The Python both later stages use: the build's venv points at this interpreter, so the
# runtime stage must have the very same one.
FROM ${BASE_IMAGE} AS python
# base: the base image already has python3 (python:3.11-slim); apt: install Debian's.
ARG PYTHON_FROM=base
RUN set -eu; \
    case "$PYTHON_FROM" in \
      base) ;; \
      apt) apt-get update \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
           && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb ;; \
      *) echo "PYTHON_FROM must be base or apt, got '$PYTHON_FROM'" >&2; exit 1 ;; \
    esac; \
    python3 -c 'import sys, venv; assert sys.version_info >= (3, 11), sys.version'

FROM python AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY src ./src
# A network whose egress goes through a TLS-inspecting proxy: pass its CA bundle as the
# build secret ca_bundle (podman/buildah/docker build --secret id=ca_bundle,src=<file>);
# it is read during this step only and never stored in a layer. Without it pip uses its own.
RUN --mount=type=secret,id=ca_bundle,required=false \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
 && python3 -m venv /opt/snowmcp \
 && /opt/snowmcp/bin/pip install --upgrade pip \
 && /opt/snowmcp/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/snowmcp/bin/pip install "$(ls /wheels/snowmcp-*.whl)[service]"

FROM python AS runtime
LABEL org.opencontainers.image.title="snowmcp-service" \
      org.opencontainers.image.description="snowmcp token service: OAuth refresh tokens for Snowflake MCP in Claude Code"
# /etc/snowmcp: where a settings file is mounted (a Secret), `serve --config /etc/snowmcp/service.toml`;
# a mount point must exist in the image when the root filesystem is read-only.
RUN groupadd --system --gid 10001 snowmcp \
 && useradd --system --uid 10001 --gid snowmcp --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin snowmcp \
 && install -d -m 0755 /etc/snowmcp
COPY --from=build /opt/snowmcp /opt/snowmcp
ENV PATH=/opt/snowmcp/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SNOWMCP_LISTEN=0.0.0.0:8080 \
    SNOWMCP_AUDIT_LOG=-
USER 10001:10001
EXPOSE 8080
# The port the service listens on (SNOWMCP_LISTEN, set above or by the runtime's --env), not a fixed 8080.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import os,sys,urllib.request; port = os.environ.get('SNOWMCP_LISTEN', ':8080').rsplit(':', 1)[1]; sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["snowmcp-service"]
CMD ["serve"]
