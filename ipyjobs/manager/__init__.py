"""The JobManager and its helpers: starting, receiving, fan-outs, time limits (§5, §10).
Imports the backends, execution and the model; never a front end."""
