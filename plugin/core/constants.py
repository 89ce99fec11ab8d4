"""Storage names and limits, in one place."""

from __future__ import annotations

DEFAULT_DB_NAME = "audience"
DEFAULT_DATA_DIR = ".audience-data"
MEMORY = ":memory:"

PROFILES = "profiles"
EVENTS = "events"
PROPERTIES = "properties"
SEGMENTS = "segments"
JOBS = "jobs"
# A job's audience, snapshotted when it is created (chunks of user ids), and
# one marker per (job, user) saying what was done for that user (see plugin.jobs.worker).
JOB_TARGETS = "job_targets"
JOB_MARKERS = "job_markers"
WEBHOOKS = "webhooks"
OUTBOX = "outbox"
API_KEYS = "api_keys"
# A key's last use is written at most this often (seconds), not on every request.
KEY_USE_RECORD_S = 60.0
# Signed-in browser sessions of the web tab (plugin.access.sessions), and the
# names bots are shown by (a bot is known by its data; a name is optional).
WEB_SESSIONS = "web_sessions"
BOTS = "bots"
IMPORTS = "imports"
# Many servers, one deployment (plugin.handover.store): the reference runtime's
# conversations (state between turns, held by one process during a turn), and
# messages for a user's WebSockets, which every process reads for the sockets it holds.
CONVERSATIONS = "conversations"
OUTBOUND = "outbound"
# Bot definitions deployed through the API (PUT /v1/bots/{bot}/definition), so
# every server runs the same one (connectors.dummy).
BOT_DEFINITIONS = "bot_definitions"
# A turn holds its conversation at most this long (a process that dies
# mid-turn keeps it no longer); a process looks for messages for its sockets
# this often, this far back (writers' clocks and insert delays), and the
# messages are removed after OUTBOUND_KEEP_S.
CONVERSATION_LEASE_S = 30.0
OUTBOUND_POLL_S = 0.1
OUTBOUND_WINDOW_S = 5.0
OUTBOUND_KEEP_S = 300
# Which one-off rewrites of old data (plugin.db.upgrades) this database has had.
UPGRADES = "upgrades"
# GridFS bucket holding built export files (file id = job id).
EXPORT_BUCKET = "exports"
# GridFS bucket holding uploaded import files until their job is done (file id = job id).
IMPORT_BUCKET = "import_files"

# A web tab session ends this long after sign-in, whatever happens meanwhile.
WEB_SESSION_TTL_S = 8 * 3600
MAX_EVENTS_PER_REQUEST = 1000
MAX_BODY_BYTES = 1024 * 1024
TIMELINE_DEFAULT_LIMIT = 50
TIMELINE_MAX_LIMIT = 500

# Recorder: a batch this big is written at once, a smaller one waits up to
# the flush interval for more; under a backlog a batch takes everything queued
# while the previous write ran, up to RECORDER_MAX_BATCH (group commit).
RECORDER_BATCH_SIZE = 500
RECORDER_MAX_BATCH = 5_000
RECORDER_FLUSH_INTERVAL_S = 0.05
RECORDER_MAX_BUFFER = 100_000
RECORDER_RETRY_MAX_DELAY_S = 2.0

# Jobs (broadcasts, workflow runs, bulk updates): users per chunk (a chunk is
# the unit of progress, resume and lease renewal), how long a claim lasts
# without renewal, how often an idle worker looks for work, and how many
# failure reasons a job keeps.
JOB_CHUNK_USERS = 50
JOBS_LISTED = 50  # a bot's latest jobs a list shows (the web tab's jobs page)
JOB_LEASE_S = 30.0
JOB_POLL_INTERVAL_S = 0.2
JOB_DRAIN_S = 5.0
# Jobs one worker works on at once, and holds in all (a job waiting out its
# rate limit holds no slot); a bot has one job running at a time.
JOB_CONCURRENCY = 4
JOB_MAX_HELD = 16
# A rate-limited job about to wait longer than this first records whom it reached.
JOB_RECORD_BEFORE_WAIT_S = 1.0
DELIVERY_DRAIN_S = 5.0  # how long a stopping server lets a delivery round finish
JOB_MAX_FAILURES_KEPT = 50
HOUSEKEEPING_INTERVAL_S = 300.0

# Exports: rows when the request names no limit, the server-wide cap
# (AUDIENCE_EXPORT_MAX_ROWS), how long a download link lives, and how often
# (in rows) a running export reports progress and renews its lease.
EXPORT_DEFAULT_LIMIT = 10_000
EXPORT_MAX_ROWS = 100_000
LINK_TTL_S = 86_400
# How long a built export file is kept (AUDIENCE_EXPORT_RETENTION_S); then it is removed.
EXPORT_RETENTION_S = 7 * 86_400
EXPORT_PROGRESS_ROWS = 1000
# Imports: files up to this size, read whole in a process of their own
# (plugin.transfer.reading) within these bounds, each checked before the reader
# allocates for it: data rows (an export writes at most EXPORT_MAX_ROWS),
# columns, characters in a cell (a spreadsheet cell's own limit), and an XLSX
# workbook's members unpacked. The reading process gets this much address
# space and time; a file that needs more is refused. Files read at once.
IMPORT_MAX_BYTES = 10 * 1024 * 1024
IMPORT_MAX_ROWS = 100_000
IMPORT_MAX_COLUMNS = 500
IMPORT_MAX_CELL_CHARS = 32_767
IMPORT_MAX_UNPACKED_BYTES = 128 * 1024 * 1024
IMPORT_READ_MEMORY_BYTES = 1024 * 1024 * 1024
IMPORT_READ_TIMEOUT_S = 120.0
IMPORT_READERS = 2
IMPORT_MAX_REJECTIONS_KEPT = 10_000
IMPORT_EVENTS_PER_BATCH = 500

# CRM sync (webhooks): defaults of the Settings above, webhooks per bot, how
# many pending deliveries the worker looks at per round, how many it sends at
# once (lanes), how long a claim lasts beyond its entries' timeouts, and how
# often it polls.
WEBHOOK_MAX_ATTEMPTS = 8
WEBHOOK_BACKOFF_S = 2.0
WEBHOOK_BACKOFF_MAX_S = 3600.0
WEBHOOK_TIMEOUT_S = 10.0
WEBHOOKS_PER_BOT = 20
DELIVERY_BATCH = 500
DELIVERY_CONCURRENCY = 16
DELIVERY_CLAIM_ENTRIES = 20  # a lane's entries claimed, and settled, together
DELIVERY_LEASE_S = 60.0
DELIVERY_POLL_INTERVAL_S = 0.2
