# syntax=docker/dockerfile:1
# The gateway and a Django project served by it, in one image (deploy/README.md, "Container image").
#
#   docker build -t support-desk .                       # this checkout's example project
#   podman build --build-arg BASE=localhost/debian-python:bookworm -t support-desk .
#
# Another project builds its own image from this same file with build arguments: PIP_INSTALL
# (what the image installs, e.g. "-r requirements.txt"), PROJECT_FILES (what of the build
# context is the project, copied to /app) and DJANGO_SETTINGS_MODULE.
#
# The image runs with a read-only root filesystem: everything it writes goes to /tmp (a
# tmpfs or volume: Gradio's uploads and cache) and to DJANGO_MEDIA_ROOT (a volume).

# Any image with python3 and its venv module: python:3.11-slim, or a Debian bookworm root
# filesystem with python3 and python3-venv made by debootstrap and imported.
ARG BASE=python:3.11-slim

# Build: resolve and build every wheel, install them into a virtualenv. Compilers, pip's cache
# and the source tree stay in this stage.
FROM ${BASE} AS build
ARG PIP_INSTALL=".[all] --group example"
ARG PROJECT_FILES="manage.py legacy_django gradio_ui api_v2 migration_plan parity_cases"
ARG DJANGO_SETTINGS_MODULE=legacy_django.settings
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv && /opt/venv/bin/python -m pip install --quiet --upgrade pip
WORKDIR /src
COPY . .
RUN /opt/venv/bin/python -m pip wheel --quiet --wheel-dir /wheels ${PIP_INSTALL} \
    && /opt/venv/bin/python -m pip install --quiet --no-index --no-deps /wheels/*.whl \
    && /opt/venv/bin/python -m pip uninstall --quiet --yes pip
# The project: only what PROJECT_FILES names, its static files collected and its modules
# compiled now, as /app is read-only at run time.
RUN mkdir /app && cp -a ${PROJECT_FILES} /app/ \
    && cd /app && DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE} /opt/venv/bin/python manage.py collectstatic --noinput -v 0 \
    && /opt/venv/bin/python -m compileall -q /app

# Run: the base, the virtualenv and the project; nothing else.
FROM ${BASE}
ARG DJANGO_SETTINGS_MODULE=legacy_django.settings
RUN groupadd --gid 10001 gateway \
    && useradd --uid 10001 --gid gateway --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin gateway \
    && mkdir -p /var/lib/gateway/media \
    && chown gateway:gateway /var/lib/gateway/media
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
# Nothing is in front of this image's server: legacy request bodies are capped as deploy/'s nginx
# caps them (GATEWAY_LEGACY_MAX_BODY_MB; raise it for a site that takes larger uploads).
ENV PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE} \
    DJANGO_MEDIA_ROOT=/var/lib/gateway/media \
    GRADIO_TEMP_DIR=/tmp/gradio \
    GRADIO_ANALYTICS_ENABLED=False \
    GATEWAY_LEGACY_MAX_BODY_MB=50 \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/cache \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
VOLUME ["/var/lib/gateway/media"]
EXPOSE 8000
# SIGTERM: stop taking connections, finish what is in flight (the engines' stop signal).
STOPSIGNAL SIGTERM
# /healthz with the image's own Python (no curl). Host: localhost, which DJANGO_ALLOWED_HOSTS
# must list for any check that talks to the process directly (Kubernetes' probes send it too).
# No blank in the program: podman's Docker API splits a healthcheck's arguments at blanks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "u=__import__('urllib.request').request;r=u.Request('http://127.0.0.1:8000/healthz',headers={'Host':'localhost'});__import__('sys').exit(u.build_opener(u.ProxyHandler({})).open(r,timeout=4).status!=200)"]
CMD ["python", "-m", "fastapi_gateway", "--host", "0.0.0.0", "--port", "8000", "--timeout-keep-alive", "75", "--log-format", "json"]
