"""arq workers: the job functions (``workers.jobs``) and the worker's settings and composition
(``workers.settings``). Run one with ``workflow-engine worker``."""
