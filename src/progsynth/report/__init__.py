"""Human-facing views of a results document (``progsynth.store.results.Results``): today the
terminal summary (``terminal``); the HTML report and plots land here too."""
