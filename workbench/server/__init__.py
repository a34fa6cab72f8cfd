"""The server's own work, beside the pages: jobs, their child process, unloading, the memory gauge.

worker        runs the queue's jobs (`workbench.store.jobs`) in the server's thread(s) or the CLI
job_process   each job's recognition and diarization in a child process at lower CPU priority
runtime       one per server: the store, the worker, the job processes, warm-up and unloading
gauge         the memory reading the sidebar shows
logs          the server's log set-up
"""
