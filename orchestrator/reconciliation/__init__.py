"""After a meeting: the bots' reports reconciled with Zoom's participant reports into final records, the
queue that schedules it, registrants bound to customer keys, and a training's outcome for HR."""
