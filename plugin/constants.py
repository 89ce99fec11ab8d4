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
WEBHOOKS = "webhooks"
OUTBOX = "outbox"
API_KEYS = "api_keys"

# Capture applies a user's events to the profile in chunks of at most this
# many, and the profile remembers a token for each of its last APPLIED_CHUNKS
# chunks, so a retried batch is not counted twice (see Store.ingest). Small
# on purpose: the embedded server's update cost grows with that array.
PROFILE_CHUNK_EVENTS = 50
APPLIED_CHUNKS = 32

MAX_EVENTS_PER_REQUEST = 1000
MAX_BODY_BYTES = 1024 * 1024
TIMELINE_DEFAULT_LIMIT = 50
TIMELINE_MAX_LIMIT = 500

# Recorder: events per database round trip, and how long a partial batch waits.
RECORDER_BATCH_SIZE = 500
RECORDER_FLUSH_INTERVAL_S = 0.05
RECORDER_MAX_BUFFER = 100_000
RECORDER_RETRY_MAX_DELAY_S = 2.0
