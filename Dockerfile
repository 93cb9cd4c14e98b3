# cti, built from this repository: the daemon and its web UI (cti serve).
#
#   docker build -t cti .                                   # alone
#   docker compose -f docker-compose.asterisk.yml up -d     # the lab: cti next to Asterisk
#
# Settings come from the environment (CTI_<SECTION>_<KEY>, CTI_PBX_<NAME>_<KEY>: README,
# "Configuration reference"); secrets are never written into the image. Data (the SQLite
# database, ticket attachments) lives in /var/lib/cti: a volume.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# ffmpeg: recordings that are not plain WAV (GSM, mp3...) and their transcoding
# (recordings.transcode_after_days) go through pydub, which runs ffmpeg and ffprobe.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# The user cti runs as. uid/gid 1000 is the "asterisk" user of the andrius/asterisk image: the
# two containers share the recordings folder, where MixMonitor writes and cti deletes the files
# of unanswered calls, transcodes old ones and applies retention -- same owner, no chmod games.
ARG CTI_UID=1000
ARG CTI_GID=1000
RUN groupadd --gid "${CTI_GID}" cti \
    && useradd --uid "${CTI_UID}" --gid cti --home-dir /var/lib/cti --no-create-home \
        --shell /usr/sbin/nologin cti \
    && install -d -o cti -g cti -m 0750 /var/lib/cti /var/lib/cti/attachments

# The package (no dev extra). The wheel carries the web UI (web/: templates, static and mail
# templates) as data files under <prefix>/share/cti/web, where cti.resources.web_dir finds it
# when there is no source checkout; the build fails if the installed cti cannot find it.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cti ./cti
COPY web ./web
RUN pip install --no-cache-dir . \
    && cd / && rm -rf /src \
    && python -c 'import sys; from cti.webapp.keys import WEB_DIR; sys.exit(0 if (WEB_DIR / "templates" / "base.html").is_file() else f"no web UI in {WEB_DIR}")'

COPY dialplan/docker/cti-entrypoint.sh /usr/local/bin/cti-entrypoint
RUN chmod 0755 /usr/local/bin/cti-entrypoint

# In a container cti must listen on every interface of the container (the default, 127.0.0.1,
# is unreachable from outside it); publish the port on the host's loopback (the compose file
# does) and put HTTPS in front for other machines. Relative paths land in the volume.
ENV CTI_DB_PATH=/var/lib/cti/cti.db \
    CTI_TICKETS_ATTACHMENTS_DIR=/var/lib/cti/attachments \
    CTI_WEB_HOST=0.0.0.0 \
    CTI_WEB_PORT=8080 \
    PYTHONUNBUFFERED=1
WORKDIR /var/lib/cti
VOLUME ["/var/lib/cti"]
USER cti
EXPOSE 8080

# /healthz: 200 when the database answers and every PBX's AMI link is logged in, else 503,
# which urlopen raises on (exit 1). Python, because the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CTI_WEB_PORT', '8080'), timeout=4)"]

# cti serve handles SIGTERM (docker stop): it closes the web server and flushes the store.
ENTRYPOINT ["cti-entrypoint"]
CMD ["cti", "serve"]
