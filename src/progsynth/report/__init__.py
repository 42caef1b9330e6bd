"""Human-facing views of runs: the terminal summary (``terminal``), and ``progsynth report`` /
``progsynth compare``: a run directory read into typed records (``load``), the paper's analyses
(``analysis``, ``hardcode``), paired statistics between runs (``compare``), plots (``plots``) and the
self-contained HTML page rendered from the Jinja2 templates in ``templates/`` (``html``)."""
