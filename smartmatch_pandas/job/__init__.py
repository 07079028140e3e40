"""A submitted job: its handle, the poll schedule, the job store and the result cache."""
