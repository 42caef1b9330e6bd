"""Human-facing views of a results document: a terminal summary and an HTML report."""
