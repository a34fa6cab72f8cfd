"""The server runtime: the job queue and worker, the job process, unloading, the memory gauge."""
