#!/usr/bin/env bash
# System packages the tests use, installed from Debian when missing (root and apt-get needed;
# otherwise a warning says what to install by hand). Called by `make test` and `.ci/run`.
#
#   chromium   the browser test (tests/test_browser_pop.py) drives /usr/bin/chromium through
#              Playwright; Playwright's own browser download is never used. Under CI the test
#              fails without it, elsewhere it is skipped.
#   espeak-ng  the simulator's recordings then carry speech instead of a tone; the speech
#              engine tests (tests/test_speech_engines.py) synthesise their sentences with it:
#              under CI they fail without it, elsewhere they are skipped.
#   ffmpeg     recordings: pydub runs it to read non-WAV files and to transcode old ones
#              (recordings.transcode_after_days); the transcode test fails under CI without
#              it, elsewhere it is skipped. WAV recordings never need it.
#   docker-compose  tests/test_compose.py validates docker-compose.asterisk.yml with
#              `docker compose config` (the v2 plugin, when the docker CLI has it) or Debian's
#              docker-compose 1.29; neither needs a Docker engine. Under CI the test fails
#              without one of them, elsewhere it is skipped.
set -uo pipefail

missing() {  # package command
  ! command -v "$2" >/dev/null 2>&1
}

wanted=()
missing chromium chromium && wanted+=(chromium)
missing espeak-ng espeak-ng && wanted+=(espeak-ng)
missing ffmpeg ffmpeg && wanted+=(ffmpeg)
if ! docker compose version >/dev/null 2>&1; then
  missing docker-compose docker-compose && wanted+=(docker-compose)
fi
[ ${#wanted[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: ${wanted[*]} not installed (needs root and apt-get): the browser, speech," \
       "transcode and compose tests are skipped and recordings carry a tone; install them" \
       "to run everything" >&2
  exit 0
fi

apt-get update -qq >/dev/null 2>&1 || echo "warning: apt-get update failed" >&2
for pkg in "${wanted[@]}"; do  # one at a time: a failing optional one must not stop the other
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" \
    >/dev/null 2>&1 || echo "warning: could not install $pkg" >&2
done
exit 0
