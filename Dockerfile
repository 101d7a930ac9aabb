# snowmcp token service image (runtime=kubernetes and ecs). Multi-stage: build a wheel
# with the build tools, install it into a virtual environment, and copy only
# that environment into a slim runtime stage that runs as a non-root user with
# a read-only root filesystem (the Deployment and the ECS task set it).
#   docker build -t snowmcp-service:0.1.0 .
#   docker run --rm -p 8080:8080 --env-file service.env snowmcp-service:0.1.0
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/snowmcp \
 && /opt/snowmcp/bin/pip install --upgrade pip \
 && /opt/snowmcp/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/snowmcp/bin/pip install "$(ls /wheels/snowmcp-*.whl)[service]"

FROM python:${PYTHON_VERSION}-slim AS runtime
LABEL org.opencontainers.image.title="snowmcp-service" \
      org.opencontainers.image.description="snowmcp token service: OAuth refresh tokens for Snowflake MCP in Claude Code"
RUN groupadd --system --gid 10001 snowmcp \
 && useradd --system --uid 10001 --gid snowmcp --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin snowmcp
COPY --from=build /opt/snowmcp /opt/snowmcp
ENV PATH=/opt/snowmcp/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SNOWMCP_LISTEN=0.0.0.0:8080 \
    SNOWMCP_AUDIT_LOG=-
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["snowmcp-service"]
CMD ["serve"]
