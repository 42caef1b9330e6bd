"""The processes that host programs, outside the sandbox.

``pool`` (``PoolExecutor``) and ``connection`` run in the caller; ``zygote`` is the pool process
(a fresh interpreter that forks workers); ``worker`` supervises one program at a time; ``template``
forks each program's process. ``jobs`` prepares a request before any of them sees it.
"""
