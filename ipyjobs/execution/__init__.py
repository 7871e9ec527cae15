"""Running a job's work where it runs: capture, input, replay, what a job calls, usage.
Imports only the model; loaded by a process job's child, so it stays small and light."""
