"""The build stage: clean -> annotate -> standardize -> shard (entry: ``mmdata.build.run.run_build``)."""
