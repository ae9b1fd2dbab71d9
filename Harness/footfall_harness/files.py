"""Searching a node's files for bytes that must (or must not) be on its disk."""

import os


def holding(folder, marker):
    """The files under `folder` (RocksDB tables, logs, MANIFEST, a backup) that hold `marker`,
    relative to it."""
    found = []
    for directory, _, files in os.walk(folder):
        for file in files:
            path = os.path.join(directory, file)
            try:
                with open(path, "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(os.path.relpath(path, folder))
            except OSError:
                pass  # a file RocksDB removed while we looked
    return found
