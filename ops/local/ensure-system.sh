#!/usr/bin/env bash
# Install what skyalert needs from Debian's packages when it is missing: Java 17+ and Maven
# (to fetch and run the local Apache Kafka), Chromium (the portal's browser tests drive it with
# Playwright), Node.js and npm (the AsyncAPI project's parser checks our AsyncAPI document).
# PostgreSQL is ensure-postgres.sh's job.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

missing=()
java_ok() {
  command -v java >/dev/null || return 1
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ "${v:-0}" -ge 17 ]
}
java_ok || missing+=(default-jre-headless)  # Java 17 on Debian 12, 21 on 13
command -v mvn >/dev/null || missing+=(maven)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
    echo "ensure-system: please install: ${missing[*]}" >&2
    exit 1
  fi
  echo "ensure-system: installing ${missing[*]} from Debian's packages" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
