"""The history database's tables (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Why these choices:

- keys are the run id (12 random hex characters made by the scan, see ``models.new_run_id``) plus
  natural parts (host name, result position): no autoincrement counter, so runs written by several
  jump hosts into one PostgreSQL database (issue 18) can never collide;
- only portable types (String, Text, Integer, Float, Boolean, JSON), no dialect-specific SQL;
- timestamps are kept as the report's ISO 8601 UTC text (``2026-11-30T23:41:57.123456+00:00``):
  re-rendering a run gives back the exact text of its reports, and the text sorts by time;
- what is queried (inventory, status, counts, scores) has columns; what is only re-rendered
  (evidence, the scan's option record, section titles) is JSON.

Everything stored comes from the report model, so it is already redacted (no secret flag values).
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKeyConstraint, Index, Integer, MetaData, String, Table, Text

#: the schema this fleetbench writes; migrations.py brings an older database up to it
SCHEMA_VERSION = 2

metadata = MetaData()

#: one row: the schema version of this database (migrations.py)
schema_version = Table("fleetbench_schema", metadata, Column("version", Integer, nullable=False))

runs = Table(
    "runs", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("started", String(40), nullable=False),
    Column("finished", String(40), nullable=False),
    Column("version", String(40), nullable=False),          # fleetbench version
    Column("report_schema", Integer, nullable=False),
    Column("benchmark", String(40), nullable=False),        # "auto" or the forced benchmark
    Column("catalog_digest", String(128), nullable=False),
    Column("inventory", Text),                              # absolute path; NULL for --local
    Column("inventory_given", Text),                        # as given on the command line
    Column("ran_by", Text, nullable=False),                 # user@jump-host
    Column("options", JSON, nullable=False),                # limit, check, skip, targets, ... as the scan recorded
    Column("sections", JSON),                               # "4.2" → title
    Column("hosts", Integer, nullable=False),
    Column("hosts_assessed", Integer, nullable=False),
    Column("pass_count", Integer, nullable=False),
    Column("fail_count", Integer, nullable=False),
    Column("warn_count", Integer, nullable=False),
    Column("info_count", Integer, nullable=False),
    Column("scored_pass", Integer, nullable=False),         # the fleet score is scored_pass / (scored_pass + scored_fail)
    Column("scored_fail", Integer, nullable=False),
    Column("waivers", JSON),                                # the waiver file's expired/unused/expiring lists; NULL: none
    Column("clusters", JSON, nullable=False),               # section 5 per cluster, as the report's "clusters"
    Column("stored_at", String(40), nullable=False),
)
Index("runs_by_inventory", runs.c.inventory, runs.c.started)
Index("runs_by_start", runs.c.started)

hosts = Table(
    "hosts", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("name", Text, primary_key=True),
    Column("position", Integer, nullable=False),            # order in the report
    Column("address", Text, nullable=False),
    Column("roles", JSON, nullable=False),
    Column("status", String(40), nullable=False),           # "ok" or why not assessed
    Column("reason", Text),
    Column("benchmark", String(40), nullable=False),
    Column("started", String(40), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("known_hosts", Text),
    Column("accepted_host_key", Text),                      # recorded on first contact (--accept-new-host-keys)
    Column("distribution", String(40)),                     # detected: kubeadm | k3s | rke2 | kubernetes
    Column("kubernetes_version", String(40)),
    Column("version_source", Text),
    Column("detected_benchmark", String(40)),
    Column("detected_reason", Text),
    Column("evidence", JSON),
    ForeignKeyConstraint(["run_id"], ["runs.run_id"]),
)

results = Table(
    "results", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("host", Text, primary_key=True),
    Column("position", Integer, primary_key=True),          # order among the host's results
    Column("benchmark", String(40), nullable=False),
    Column("id", String(40), nullable=False),               # CIS id
    Column("check_id", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("section", String(40), nullable=False),
    Column("target", String(40), nullable=False),
    Column("status", String(8), nullable=False),
    Column("scored", Boolean, nullable=False),
    Column("automated", Boolean, nullable=False),
    Column("expected", Text, nullable=False),
    Column("actual", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("remediation", Text, nullable=False),
    Column("waived", Boolean, nullable=False),
    Column("waiver_reason", Text),
    Column("waiver_owner", Text),
    Column("waiver_ticket", Text),
    Column("waiver_expires", String(10)),                   # ISO date, the last day it applies
    Column("waiver_origin", Text),                          # waivers.yaml:12
    ForeignKeyConstraint(["run_id", "host"], ["hosts.run_id", "hosts.name"]),
)

#: the tables of schema version 1 (unchanged since: version 2 only added tables)
TABLES = (runs, hosts, results)

# --------------------------------------------------------------------------- version 2: run groups (issue 18)
# A run group joins the runs of several processes or jump hosts (one per shard) into one fleet run.
# Added as new tables, not as columns of ``runs``: a version-1 reader's queries are unchanged, and a
# plain run is simply one without a ``group_runs`` row.

run_groups = Table(
    "run_groups", metadata,
    Column("name", String(100), primary_key=True),
    Column("shards", Integer, nullable=False),              # N, as the first shard to join recorded it
    Column("inventory", Text),                              # that shard's inventory path (previous group: the same path)
    Column("created", String(40), nullable=False),          # ISO 8601 UTC: when the first shard joined; orders the groups
    Column("hosts", JSON, nullable=False),                  # the fleet: [{name, address, roles, shard}] in inventory order
)
Index("run_groups_by_inventory", run_groups.c.inventory, run_groups.c.created)

group_runs = Table(
    "group_runs", metadata,
    Column("run_group", String(100), primary_key=True),
    Column("shard", Integer, primary_key=True),             # I: one run per shard of a group (a re-run replaces it)
    Column("run_id", String(64), nullable=False, unique=True),
    ForeignKeyConstraint(["run_group"], ["run_groups.name"]),
    ForeignKeyConstraint(["run_id"], ["runs.run_id"]),
)

#: the tables version 2 added
GROUP_TABLES = (run_groups, group_runs)

#: every table a run writes to (or deletes from): open_store tries each write before a scan
WRITTEN = (*TABLES, *GROUP_TABLES)
