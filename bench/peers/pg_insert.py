#!/usr/bin/env python3
"""Peers of the sink scenario: every manifest entry as a result row into
PostgreSQL with psycopg, the usual ways.

    pg_insert.py executemany|copy CONNINFO TABLE MANIFEST

executemany: INSERT ... ON CONFLICT (id) DO UPDATE, batches of 100 rows, a
commit per batch (what users write today). copy: one COPY of every row.
The table has the sink's standard columns. Prints {"seconds": S, "docs": N};
the clock includes reading the manifest.
"""
import json
import sys
import time
from datetime import datetime, timezone

import psycopg

from manifest_reader import read_manifest

COLUMNS = ("id", "path", "status", "output", "error", "attempts", "duration_ms", "input_tokens",
           "output_tokens", "cost_usd", "metadata", "duplicate_of", "batch", "finished_at")
BATCH = 100


def rows(manifest):
    for doc in read_manifest(manifest):
        yield (doc["id"], doc["path"], "ok", None, None, 1, 0.0, 0, 0, 0.0, "{}", None, "bench", datetime.now(timezone.utc))


def main():
    started = time.perf_counter()
    mode, conninfo, table, manifest = sys.argv[1:5]
    names = ", ".join(COLUMNS)
    docs = 0
    with psycopg.connect(conninfo) as conn:
        if mode == "copy":
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows(manifest):
                    copy.write_row(row)
                    docs += 1
        else:
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])
            sql = (f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
                   f"ON CONFLICT (id) DO UPDATE SET {updates}")
            batch = []
            with conn.cursor() as cur:
                for row in rows(manifest):
                    batch.append(row)
                    if len(batch) == BATCH:
                        cur.executemany(sql, batch)
                        conn.commit()
                        docs += len(batch)
                        batch = []
                if batch:
                    cur.executemany(sql, batch)
                    conn.commit()
                    docs += len(batch)
    print(json.dumps({"seconds": time.perf_counter() - started, "docs": docs}))


if __name__ == "__main__":
    main()
