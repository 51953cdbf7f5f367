"""Reading a JSON Lines manifest the way the peers' users do: one json.loads per line."""
import json


def read_manifest(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
