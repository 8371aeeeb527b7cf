"""Resource status values, spelled as Personalize returns them; each is declared here only."""

from __future__ import annotations

ACTIVE = "ACTIVE"
CREATE_PENDING = "CREATE PENDING"
CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
CREATE_FAILED = "CREATE FAILED"
CREATE_STOPPING = "CREATE STOPPING"
CREATE_STOPPED = "CREATE STOPPED"

# Created, and the work that makes it ACTIVE (or CREATE FAILED) still under way.
IN_PROGRESS_STATES = (CREATE_PENDING, CREATE_IN_PROGRESS)
# StopSolutionVersionCreation has been asked for: the version never becomes ACTIVE.
STOPPING_STATES = (CREATE_STOPPING, CREATE_STOPPED)
# A solution version in one of these still has training work (or a stop) under way.
VERSION_BUSY_STATES = (CREATE_PENDING, CREATE_IN_PROGRESS, CREATE_STOPPING)

# Recommenders besides the CREATE states: StopRecommender, StartRecommender, DeleteRecommender.
STOP_PENDING = "STOP PENDING"
STOP_IN_PROGRESS = "STOP IN_PROGRESS"
INACTIVE = "INACTIVE"
START_PENDING = "START PENDING"
START_IN_PROGRESS = "START IN_PROGRESS"
DELETE_PENDING = "DELETE PENDING"

# Batch inference (and batch segment) jobs: PENDING -> IN PROGRESS -> ACTIVE or CREATE FAILED, as
# Personalize spells them for batch jobs (no "CREATE" before the first two).
BATCH_PENDING = "PENDING"
BATCH_IN_PROGRESS = "IN PROGRESS"
# A batch job in one of these still has work under way (and counts against the concurrent-jobs quota).
BATCH_RUNNING_STATES = (BATCH_PENDING, BATCH_IN_PROGRESS)
