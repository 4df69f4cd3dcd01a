#!/usr/bin/env bash
# Install the browser libraries the map and the upload page need from the npm registry and copy the files the app
# serves into tracker/static/vendor/ (git-ignored). Maps work in the field without any CDN.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "FATAL: npm is needed to install Leaflet (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
vendor=tracker/static/vendor
rm -rf "$vendor"
mkdir -p "$vendor/leaflet" "$vendor/leaflet.heat" "$vendor/uppy"
cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css \
  node_modules/leaflet/dist/images node_modules/leaflet/LICENSE "$vendor/leaflet/"
cp node_modules/leaflet.heat/dist/leaflet-heat.js node_modules/leaflet.heat/LICENSE \
  "$vendor/leaflet.heat/" 2>/dev/null || cp node_modules/leaflet.heat/dist/leaflet-heat.js "$vendor/leaflet.heat/"
# Uppy's prebuilt bundle (Dashboard, Tus, Golden Retriever among its plugins) for resumable uploads.
cp node_modules/uppy/dist/uppy.min.js node_modules/uppy/dist/uppy.min.css "$vendor/uppy/"
cp node_modules/@uppy/core/LICENSE "$vendor/uppy/" 2>/dev/null || true
echo "browser assets in $vendor: $(ls "$vendor" | tr '\n' ' ')"
