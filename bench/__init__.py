"""Benchmark mockserver against Prism, the mock server it replaces.

    python bench/run.py                 # 5 alternating rounds of 10 s per load
    python bench/run.py --quick         # 1 short round: does it still run?
    python bench/run.py --soak 2        # 2 minutes of valid and invalid requests

The parts, each in its module:

- base: paths, pins and names; tools: wrk and Prism installed when missing;
- launch: starting a server, timing its start-up, stopping it and its children;
- memory: RSS and PSS of a process tree; loads: wrk runs, their results and ids;
- compare: the alternating rounds; report: the tables; soak: the long run;
- cli: the command line.

Why it is built this way:

- Both servers are started fresh for every measured load, from the same
  openapi.yaml, and driven by the same wrk script with the same options, so
  that each measurement starts from the same state (the fixtures) and each
  start-up is timed.
- Rounds alternate (mockserver, Prism, mockserver, Prism...) and the table
  shows medians: a burst of background load on a small machine then skews
  one round of each server rather than every round of one.
- Each load is preceded by a short warm-up that is not timed, but whose
  answers are checked like the others. Node's JIT needs it (a cold Prism is
  about half as fast), and so does mockserver: it answers as soon as its
  first worker does, and wrk keeps the connections it opens at once for the
  whole run, so a load started at the first 200 can find one worker serving.
- Correctness is checked during the load itself, not only speed: every
  answer must be a 200, and every app id handed out by any worker process
  must be unique (the wrk scripts write them to one file per thread).
- Memory is the RSS of the whole process tree (granian runs several
  processes; Prism is one node process), sampled about every 100 ms from
  process start until it is stopped.
- Every process started here is stopped, on success, error or Ctrl-C.

Only the standard library and mockserver itself are used, so the dev venv
runs it as is; Prism is installed with npm into bench/.cache on first use.
"""
