#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100, the last line that runs on Node 20) without
# internet beyond the npm registry, following ../shared/notes/real-vscode-e2e.md: every
# postinstall that downloads something is skipped and the native modules are rebuilt locally.
# The result is cached (default $HOME/.cache/think-lens/code-server, or $THINK_LENS_CODE_SERVER_DIR
# / the first argument) and reused when already complete. Prints the entry script path on stdout;
# progress goes to stderr.
set -euo pipefail

VERSION=4.100.3
DIR="${1:-${THINK_LENS_CODE_SERVER_DIR:-$HOME/.cache/think-lens/code-server}}"
STAMP="$DIR/.complete-$VERSION"
ENTRY="$DIR/node_modules/code-server/out/node/entry.js"

log() { echo "code-server.sh: $*" >&2; }

if [[ -f "$STAMP" && -f "$ENTRY" ]]; then
  log "reusing $DIR"
  echo "$ENTRY"
  exit 0
fi

# System prerequisites: kerberos needs the gssapi headers, @vscode/ripgrep's binary comes from
# Debian instead of a download.
need=()
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
command -v rg >/dev/null 2>&1 || need+=(ripgrep)
command -v make >/dev/null 2>&1 || need+=(make)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${need[*]} (install them as root: apt-get install -y ${need[*]})"
    exit 1
  fi
  log "installing Debian packages: ${need[*]}"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2
fi

# A half-finished earlier attempt is not trusted: start clean.
rm -rf "$DIR"
mkdir -p "$DIR"
cd "$DIR"
echo '{"name":"think-lens-code-server","private":true}' > package.json

log "npm install code-server@$VERSION (scripts skipped) into $DIR"
npm install --no-audit --no-fund --ignore-scripts "code-server@$VERSION" >&2
log "rebuilding argon2"
npm rebuild argon2 >&2

VS="$DIR/node_modules/code-server/lib/vscode"
cd "$VS"
log "installing VS Code's server dependencies"
npm install --no-audit --no-fund --omit=dev --ignore-scripts >&2
log "rebuilding VS Code's native modules"
# node-pty's install step runs `npx node-gyp`; npm_config_yes lets npx proceed unattended.
npm_config_yes=true npm rebuild @parcel/watcher @vscode/spdlog kerberos native-watchdog node-pty >&2
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
ln -sfn node_modules node_modules.asar
log "installing built-in extensions' dependencies"
(cd extensions && npm install --no-audit --no-fund --omit=dev --ignore-scripts >&2)

touch "$STAMP"
log "done: $DIR"
echo "$ENTRY"
