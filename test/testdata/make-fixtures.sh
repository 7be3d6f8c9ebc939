#!/bin/sh
# Rebuilds the Wasm fixtures from hello.wat with jco (installed by `make tools`).
#   hello.core.wasm       core module: WASI preview 1 command printing "hello from stuffed"
#   hello.component.wasm  the same wrapped as a WASI preview 2 command component
set -eu
cd "$(dirname "$0")"
JCO=${JCO:-../node_modules/.bin/jco}
"$JCO" parse hello.wat -o hello.core.wasm
"$JCO" new hello.core.wasm --wasi-command -o hello.component.wasm
