"""A submitted job: its handle, its waiting and its reading, the poll schedule, the job
store and the result cache."""
