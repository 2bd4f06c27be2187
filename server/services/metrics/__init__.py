"""The metrics of the runbooks+metrics family: definitions, the embedded sampler and store, the Prometheus source,
the text exposition, and MetricsService over them."""
