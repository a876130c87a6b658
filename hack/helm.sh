#!/usr/bin/env bash
# Build Helm from the Go module proxy (no binary downloads here), cached by version; prints its path.
set -euo pipefail
# standard output carries the path alone: everything else, go's progress included, goes to standard error
exec 3>&1 1>&2
version=v3.22.0
cache="${KUBELINE_CACHE:-$HOME/.cache/kubeline}/bin/helm-$version"
if [ ! -x "$cache/helm" ]; then
  mkdir -p "$cache"
  echo "[helm] building helm $version from the Go module proxy into $cache"
  GOBIN="$cache" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version" \
    "helm.sh/helm/v3/cmd/helm@$version"
fi
echo "$cache/helm" >&3
