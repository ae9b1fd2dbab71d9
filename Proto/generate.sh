#!/usr/bin/env bash
# Regenerates the Swift code for Proto/*.proto into Sources/FootfallWire/Generated: messages with
# swift-protobuf's protoc-gen-swift, services with grpc-swift-protobuf's protoc-gen-grpc-swift-2.
# Both plugins are products of the package's own dependencies, built into the debug build folder
# (about a minute once the test build has compiled their libraries); set FOOTFALL_PROTOC_PLUGINS
# to a folder holding both to use prebuilt ones.
# `make proto-check` runs this script into a temporary folder and fails on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-Sources/FootfallWire/Generated}"
plugins="${FOOTFALL_PROTOC_PLUGINS:-.build/debug}"
for plugin in protoc-gen-swift protoc-gen-grpc-swift-2; do
  if [ ! -x "$plugins/$plugin" ]; then
    swift build --product "$plugin" >&2
  fi
done
protos=$(cd Proto && find footfall -name "*.proto" | sort)
services=$(cd Proto && grep -l "^service " $protos | sort)
mkdir -p "$out"
rm -f "$out"/*.pb.swift "$out"/*.grpc.swift
protoc --plugin=protoc-gen-swift="$plugins/protoc-gen-swift" \
  --swift_out="$out" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  -I Proto $protos
protoc --plugin=protoc-gen-grpc-swift="$plugins/protoc-gen-grpc-swift-2" \
  --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Public,FileNaming=PathToUnderscores \
  -I Proto $services
