#!/bin/sh
# kubectl (its built-in kustomize renders deploy/k8s) and docker-compose 1.29 (validates
# docker-compose.yml without an engine), for tests/test_deploy.py. A no-op when both are
# installed; else installed with apt, as ops/browser.sh does for the browser tests.
set -eu
need=""
command -v kubectl >/dev/null 2>&1 || need="$need kubectl"
command -v docker-compose >/dev/null 2>&1 || need="$need docker-compose"
if [ -n "$need" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "The deployment tests need$need (apt-get is not available here to install them)." >&2
    exit 1
  fi
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing$need for the deployment tests"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # --no-install-recommends: docker-compose recommends the Docker engine, which is not needed.
  # shellcheck disable=SC2086
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need
fi
# The overlays use Kustomize 5 (labels, patches with label selectors); Debian's older
# kubernetes-client (kubectl 1.20, Kustomize 2) cannot render them.
if ! kubectl version --client 2>/dev/null | grep -q "Kustomize Version: v[5-9]"; then
  echo "kubectl $(kubectl version --client 2>/dev/null | head -n 1) has no Kustomize 5:" \
    "install kubectl 1.27 or newer (the kubectl package, not kubernetes-client)." >&2
  exit 1
fi
