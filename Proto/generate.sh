#!/usr/bin/env bash
# Regenerates the Swift code for Proto/*.proto into Sources/FootfallWire.
# The plugin is built from the swift-protobuf dependency in the debug build folder (seconds once
# SwiftProtobuf itself is built);
# `make proto-check` runs this script into a temporary folder and fails on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-Sources/FootfallWire/Generated}"
plugin=.build/debug/protoc-gen-swift
if [ ! -x "$plugin" ]; then
  swift build --product protoc-gen-swift >&2
fi
mkdir -p "$out"
rm -f "$out"/*.pb.swift
protoc --plugin=protoc-gen-swift="$plugin" \
  --swift_out="$out" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  -I Proto $(cd Proto && find footfall -name "*.proto" | sort | sed "s|^|Proto/|")
