"""Imported once by the fork server that screening workers fork from (the process pool's, and a local
Dask cluster's): the knowledge is loaded and the ruleset compiled there, before any worker forks, so
every worker starts with it (about 0.4 s of CPU each, and pass 1's first parsed chunk waited for it).

The rules engine's compiled state is plain memory of a single-threaded process (cds/engine starts no
timer threads), so a forked copy is a working copy: tests/screen compare pool rows with rows assessed
in one process. The heap is then frozen (`gc.freeze`): collections in the workers no longer walk the
rules, value sets and modules, and the pages stay shared between workers.
"""

from __future__ import annotations

import contextlib
import gc

from cds.screen.worker import warm

# Knowledge that does not load (or anything else going wrong here) is not this server's to report:
# each worker meets the same error at its first task and reports it there, as it did before this
# module existed; an exception escaping this import would kill the server, and the pool with it.
with contextlib.suppress(Exception):
    warm()
gc.freeze()
